"""Scenarios are data: one YAML file per commons, validated when loaded.

A new commons is one new file here (or anywhere, passed by path), no code. The file
names the resource and its units and holds every sentence the agents are shown: the
environment's observation texts, the scripted agents' lines and the generative agent's
prompt templates. Templates are Python format strings with plain ``{field}`` placeholders
(no positional ``{}``, attribute, index, conversion or format spec), so filling one in can
only fail on a field it is not given; the fields each may use are listed in
``SECTION_FIELDS`` and checked (``govsim.templating``) when the file loads.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import ValidationError, model_validator

from govsim import institutions, templating
from govsim.config import ConfigError, load_yaml
from govsim.strict import Strict

SCENARIO_DIR = Path(__file__).parent

# Fields each environment sentence may use. Agent prompt templates may use any field of
# ``Scenario.vocabulary()`` plus what the agent passes; they are checked by the agent.
TEMPLATE_FIELDS: dict[str, set[str]] = {
    "stock_before_harvest": {"stock"},
    "universalization_hint": {"threshold"},
    "harvest_report": {"name", "wanted", "caught"},
    "stock_left": {"stock_after"},  # improvements.stock_left_report only
    "public_report_header": set(),
    "public_report_line": {"name", "caught"},
    "agreed_limit": {"limit"},
    "agent_joined": {"name"},
}

# What the scripted agents say (agents/scripted.py), and the fields each line is given.
SCRIPTED_FIELDS: dict[str, set[str]] = {
    "propose": {"caught", "limit"},
    "no_proposal": {"caught"},
    "summary": {"proposal"},
    "summary_limit": {"limit"},
    "summary_none": set(),
    "reflection": {"caught"},
}


# Every template of the two checked sections and its fields: the env's sentences and the
# scripted lines above, and the institutions' (govsim/institutions), those checked when
# present, needed only by a run with the institution on (the env says so when it is built).
SECTION_FIELDS: dict[str, dict[str, set[str]]] = {
    "sentences": {**institutions.template_fields("sentences"), **TEMPLATE_FIELDS},
    "scripted": {**institutions.template_fields("scripted"), **SCRIPTED_FIELDS},
}


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the problem."""


class Vocabulary(Strict, frozen=True):
    resource: str  # "fish"
    place: str  # "the lake"
    unit: str  # "tons"
    unit_singular: str  # "ton"
    verb: str  # "catch" (I catch 10 tons)
    verb_past: str  # "caught"
    verb_ing: str  # "fishing"
    harvester: str  # "fisherman"
    harvesters: str  # "fishermen"
    income_per_unit: str  # "$1,000"


class Scenario(Strict, frozen=True):
    name: str
    description: str
    vocabulary: Vocabulary
    sentences: dict[str, str]
    prompts: dict[str, str]
    personas: dict[str, str] = {}
    scripted: dict[str, str] = {}  # what the scripted agents say in the discussion

    @model_validator(mode="after")
    def _check_templates(self) -> Scenario:
        missing = sorted(set(TEMPLATE_FIELDS) - set(self.sentences))
        if missing:
            raise ValueError(f"sentences lacks {', '.join(missing)}")
        vocab = set(self.vocabulary.model_dump())
        for section, texts in (("sentences", self.sentences), ("scripted", self.scripted)):
            for key, text in texts.items():
                templating.check(text, f"{section}.{key}", SECTION_FIELDS[section].get(key, set()), vocab)
        for section, texts in (("prompts", self.prompts), ("personas", self.personas)):
            for key, text in texts.items():  # their fields are the generative agent's to check
                templating.fields(text, f"{section}.{key}")
        return self

    def say(self, key: str, **fields: object) -> str:
        """One environment sentence with the scenario's vocabulary and the given fields."""
        return self.sentences[key].format(**self.vocabulary.model_dump(), **fields)

    def prompt(self, key: str, **fields: object) -> str:
        """One agent prompt template filled in; raises KeyError naming a missing template."""
        if key not in self.prompts:
            raise KeyError(f"scenario {self.name!r} has no prompt template {key!r}")
        return self.prompts[key].format(**self.vocabulary.model_dump(), **fields)

    def scripted_line(self, key: str, **fields: object) -> str:
        """A scripted agent's templated sentence (see the scenario's ``scripted`` section)."""
        return self.scripted[key].format(**self.vocabulary.model_dump(), **fields)

    def persona(self, key: str, **fields: object) -> str:
        """A persona's goal text; raises KeyError naming the missing persona and the known ones."""
        if key not in self.personas:
            raise KeyError(f"scenario {self.name!r} has no persona {key!r}; known: {sorted(self.personas)}")
        return self.personas[key].format(**self.vocabulary.model_dump(), **fields)


def available() -> list[str]:
    """Names of the scenarios shipped with govsim."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


@cache
def load(name_or_path: str) -> Scenario:
    """Load a shipped scenario by name, or any scenario file by path."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"}:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if "\0" in name_or_path or not path.exists():
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}: use one of {', '.join(available())} or a path to a .yaml file"
        )
    try:
        return Scenario.model_validate(load_yaml(path, f"scenario file {path}"))
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None
    except ValidationError as exc:
        raise ScenarioError(f"scenario file {path}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    """The first problem of a scenario file, on one line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = " ".join(err["msg"].removeprefix("Value error, ").split())
    return f"{where}: {message}" if where else message
