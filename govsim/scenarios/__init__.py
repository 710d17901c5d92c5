"""Scenarios are data: one YAML file per commons, validated when loaded.

A new commons is one new file here (or anywhere, passed by path), no code. The file
names the resource and its units and holds every sentence the agents are shown: the
environment's observation texts and the generative agent's prompt templates. Templates
are Python format strings; the fields each may use are listed in ``TEMPLATE_FIELDS``.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

SCENARIO_DIR = Path(__file__).parent

# Fields each environment sentence may use. Agent prompt templates may use any field of
# ``Scenario.vocabulary()`` plus what the agent passes; they are checked by the agent.
TEMPLATE_FIELDS: dict[str, set[str]] = {
    "stock_before_harvest": {"stock"},
    "universalization_hint": {"threshold"},
    "harvest_report": {"wanted", "caught", "stock_after"},
    "public_report_header": set(),
    "public_report_line": {"name", "caught"},
    "agreed_limit": {"limit"},
    "agent_joined": {"name"},
}


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the problem."""


class Vocabulary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    vocabulary: Vocabulary
    sentences: dict[str, str]
    prompts: dict[str, str]
    personas: dict[str, str] = {}
    scripted: dict[str, str] = {}  # what the scripted agents say in the discussion

    @model_validator(mode="after")
    def _check_templates(self) -> "Scenario":
        missing = sorted(set(TEMPLATE_FIELDS) - set(self.sentences))
        if missing:
            raise ValueError(f"sentences lacks {', '.join(missing)}")
        vocab = set(self.vocabulary.model_dump())
        for key, text in self.sentences.items():
            allowed = TEMPLATE_FIELDS.get(key, set()) | vocab
            _check_fields(f"sentences.{key}", text, allowed)
        for section, texts in (("prompts", self.prompts), ("personas", self.personas), ("scripted", self.scripted)):
            for key, text in texts.items():
                _check_fields(f"{section}.{key}", text, None)
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


def _check_fields(where: str, text: str, allowed: set[str] | None) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError as exc:
        raise ValueError(f"{where}: bad template ({exc})") from None
    if allowed is not None and names - allowed:
        raise ValueError(f"{where}: unknown field(s) {sorted(names - allowed)}; allowed {sorted(allowed)}")


def available() -> list[str]:
    """Names of the scenarios shipped with govsim."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


@lru_cache(maxsize=None)
def load(name_or_path: str) -> Scenario:
    """Load a shipped scenario by name, or any scenario file by path."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"}:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}: use one of {', '.join(available())} or a path to a .yaml file"
        )
    try:
        data = yaml.safe_load(path.read_text())
        return Scenario.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ScenarioError(f"scenario file {path}: {detail}") from None
