"""Run configuration: one validated pydantic model, built from experiment presets,
config files and ``key=value`` overrides.

Resolution order: defaults < experiment preset (``experiments.yaml``) < config file <
overrides. Unknown keys and bad values raise ``ConfigError`` with one line naming the key
and what is allowed.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, Field, ValidationError, field_validator, model_validator

from govsim.dynamics import AllocationRule, Regeneration
from govsim.strict import Strict

DEFAULT_NAMES = ["John", "Kate", "Jack", "Emma", "Luke", "Anna", "Paul", "Mia", "Omar", "Lena"]
MAX_SEATS = 1000  # more than any study seats (GovSimElect: 20); stops a typo like sustainable*10000000
EXPERIMENTS_FILE = Path(__file__).with_name("experiments.yaml")


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line for the user."""


MAX_SEED = 2**63 - 1  # numpy takes any seed >= 0; int64 keeps it whole in tables and JSON readers


def check_seed(seed: int) -> int:
    """A run's seed, or ValueError: seeds are whole numbers from 0 to ``MAX_SEED``."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError("a seed must be a whole number from 0 to 2**63-1")
    return seed


class AgentSpec(Strict):
    """One seat at the table: who sits there and what drives it."""

    name: str
    type: str | None = None  # agent registry name; None takes RunConfig.agent
    persona: str | None = None  # a key of the scenario's personas
    model: str | None = None  # this seat's model, else llm.model
    backend: str | None = None  # this seat's backend, else llm.backend
    join_month: int = Field(1, ge=1)  # month the seat joins (the greedy newcomer: 3)
    params: dict[str, Any] = {}  # agent-specific settings (e.g. amount for 'fixed')


PROFILES = ("paper", "improved")
REFERENCE_MAX_TOKENS = 8000  # the reference's generation limit (simulation/utils/models.py)
GENERATION_BOUND = 512  # govsim's default: keeps `make run` within minutes on 2 cores (README)


class Improvements(Strict):
    """govsim's named deviations from the reference GovSim (docs/fidelity.md has each row).

    Every key is off under the default ``paper`` profile, which reproduces the reference's
    information flow, and on under ``improved``; set a key to override the profile.
    """

    fixed_recency: bool | None = None  # the newest memory scores highest (the reference scores the oldest highest)
    retrievable_chats: bool | None = None  # conversation memories are retrieved (the reference never retrieves them)
    normalised_retrieval: bool | None = None  # each retrieval term min-max normalised over the candidates
    collapse_rule: bool | None = None  # the system prompt tells the collapse threshold (the reference never does)
    stock_left_report: bool | None = None  # the harvest report also tells the stock left (reveals the group total)
    random_first_speaker: bool | None = None  # the talk opens with a random speaker (the reference: the first seat)
    no_self_naming: bool | None = None  # a speaker may not name himself as the next speaker
    present_names_only: bool | None = None  # the system prompt names only the agents present (the reference: all seats)

    def resolved(self, profile: str) -> Improvements:
        on = profile == "improved"
        return Improvements(**{k: on if v is None else v for k, v in self.model_dump().items()})


INSTITUTIONS = ("election", "sanctions")  # govsim/institutions: one module each


class ElectionConfig(Strict):
    """The election (govsim/institutions/election.py): candidates state an agenda, everyone votes."""

    term: int = Field(3, ge=1)  # months a leader leads; elections in months 1, 1+term, 1+2*term, ...
    candidates: list[str] | None = None  # the seats that stand (None: everyone present at the election)


class SanctionsConfig(Strict):
    """The sanctions (govsim/institutions/sanctions.py): paying to fine those seen over the limit."""

    cost: float = Field(1.0, gt=0)  # what one fine costs the agent who imposes it, in units of the resource
    fine_ratio: float = Field(3.0, ge=0)  # the fine as a multiple of the cost (the fined agent loses cost * ratio)


class LLMConfig(Strict):
    backend: Literal["auto", "vllm", "transformers", "openai", "fake"] = "auto"
    model: str = "embedded"  # "embedded" (SmolLM2-135M), a folder, a GGUF file or a hub name
    adapter: str | None = None  # a LoRA adapter folder
    temperature: float = Field(0.0, ge=0)  # the reference decodes greedily
    top_p: float = Field(1.0, gt=0, le=1)
    # The reference allows 8000 new tokens; a small model decoding greedily on a CPU can
    # run to any limit, so govsim bounds a reply (docs/fidelity.md: "generation bound").
    max_tokens: int = Field(GENERATION_BOUND, ge=1)
    retries: int = Field(2, ge=0)  # extra attempts when a reply does not parse
    max_concurrency: int | None = Field(None, ge=1)  # 1 = the reference's one call at a time
    base_url: str | None = None  # openai backend
    api_key_env: str = "OPENAI_API_KEY"
    max_model_len: int | None = Field(None, ge=256)  # None: the model's own context length
    fail_after: int = Field(5, ge=1)  # failed calls in a row that stop a run (marked invalid)
    fail_share: float = Field(0.5, gt=0, le=1)  # share of a month's calls failing that stops a run


class RunConfig(Strict):
    """Everything that defines one episode. Same config + seed = same events."""

    scenario: str = "fishery"
    experiment: str = "default"
    seed: Annotated[int, AfterValidator(check_seed)] = 0
    months: int = Field(12, ge=1)
    agent: str = "sustainable"  # the agent type of seats that name none
    n_agents: int = Field(5, ge=1, le=MAX_SEATS)  # used when agents is not given (names: seat_names)
    agents: list[AgentSpec] | None = None
    capacity: int = Field(100, ge=1)
    initial_stock: int | None = Field(None, ge=0)
    collapse_below: float = Field(5, ge=0)
    regeneration: Regeneration = Regeneration()
    allocation: AllocationRule = "stochastic"
    communication: bool = True
    universalization: bool = False
    max_conversation_steps: int = Field(10, ge=2)  # steps of the talk, the mayor's report counted (the reference's 10)
    network: str = "complete"
    profile: Literal["paper", "improved"] = "paper"  # paper: the reference's GovSim; improved: every improvement on
    prompt_variant: Literal["v3", "v3_p1", "v3_p2", "v3_p3"] = "v3"  # the reference's system text or a paraphrase
    improvements: Improvements = Improvements()  # None entries take the profile's value
    llm: LLMConfig = LLMConfig()
    institutions: list[Literal[INSTITUTIONS]] = []  # the month's institutions (none: the paper's month)
    election: ElectionConfig = ElectionConfig()
    sanctions: SanctionsConfig = SanctionsConfig()

    @field_validator("institutions", mode="before")
    @classmethod
    def _one_institution(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # --set institutions=election

    @model_validator(mode="after")
    def _fill_seats(self) -> RunConfig:
        if self.agents is None:
            self.agents = [AgentSpec(name=n) for n in seat_names(self.n_agents)]
        names = [a.name for a in self.agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agents: names must be unique, got {names}")
        if not self.agents:
            raise ValueError("agents: at least one seat is needed")
        if all(a.join_month > 1 for a in self.agents):
            raise ValueError("agents: at least one seat must have join_month 1")
        self.n_agents = len(self.agents)
        for seat in self.agents:
            seat.type = seat.type or self.agent
        if len(set(self.institutions)) != len(self.institutions):
            raise ValueError(f"institutions: each at most once, got {self.institutions}")
        standing = self.election.candidates
        if standing is not None:
            unknown = sorted(set(standing) - set(names))
            if unknown or not standing:
                raise ValueError(f"election.candidates: {unknown or 'none'} not seats of this run; seats: {names}")
            if all(a.join_month > 1 for a in self.agents if a.name in standing):
                raise ValueError("election.candidates: at least one candidate must sit from month 1")
        if self.initial_stock is not None and self.initial_stock > self.capacity:
            raise ValueError(f"initial_stock: {self.initial_stock} is above capacity {self.capacity}")
        return self

    @property
    def opts(self) -> Improvements:
        """The improvements in force: the explicit keys, the profile's value for the rest."""
        return self.improvements.resolved(self.profile)

    @property
    def stock0(self) -> int:
        return self.capacity if self.initial_stock is None else self.initial_stock

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@cache
def experiments() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(EXPERIMENTS_FILE.read_text())


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_value(text: str) -> Any:
    """A ``key=value`` override's value: YAML scalars/lists (``3``, ``true``, ``[1,2]``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.0.c`` in nested dicts/lists, creating dicts on the way."""
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            node = node[_index(node, part, dotted)]
            continue
        if part not in node or node[part] is None:
            node[part] = [] if nxt.isdigit() else {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, dotted)] = value
    else:
        node[last] = value


def _index(seq: list, part: str, dotted: str) -> int:
    if not part.isdigit() or int(part) >= len(seq):
        raise ConfigError(f"override {dotted!r}: {part!r} is not an index of a list of {len(seq)}")
    return int(part)


def seat_names(n: int) -> list[str]:
    """Names of ``n`` seats: ``DEFAULT_NAMES``, then John2, Kate2, ... Lena2, John3, ... (all unique)."""
    base = len(DEFAULT_NAMES)
    return [DEFAULT_NAMES[i] if i < base else f"{DEFAULT_NAMES[i % base]}{i // base + 1}" for i in range(n)]


def parse_agents(text: str) -> list[str]:
    """``"greedy,sustainable*4"`` -> five seat types."""
    types: list[str] = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, star, count = (part.strip() for part in item.partition("*"))
        if not name or (star and not count.isdecimal()):
            raise ConfigError(f"--agents: {item!r} should be TYPE or TYPE*COUNT, e.g. sustainable*4")
        n = (int(count) if len(count) < 10 else MAX_SEATS + 1) if count else 1
        if len(types) + n > MAX_SEATS:
            raise ConfigError(f"--agents {text!r}: at most {MAX_SEATS} seats")
        types += [name] * n
    if not types:
        raise ConfigError("--agents: give at least one agent type, e.g. sustainable*5")
    return types


def typed_seats(seats: list[dict[str, Any]], types: list[str], experiment: str) -> list[dict[str, Any]]:
    """A preset's or file's own seats (names, personas, join months) with the given types:
    one type for every seat, or one per seat."""
    if len(set(types)) == 1 and len(types) in (1, len(seats)):
        types = types[:1] * len(seats)
    if len(types) != len(seats):
        names = ", ".join(str(seat.get("name")) for seat in seats)
        raise ConfigError(
            f"--agents: {experiment!r} has its own {len(seats)} seats ({names}); give one type for all "
            f"(e.g. generative*{len(seats)}) or {len(seats)} types, or set them with --set agents.N.type=..."
        )
    return [{**seat, "type": kind} for seat, kind in zip(seats, types)]


def resolve(
    experiment: str = "default",
    file: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Build a validated config: defaults < experiment preset < file < overrides."""
    file = dict(file or {})
    overrides = dict(overrides or {})
    experiment = overrides.get("experiment", file.get("experiment", experiment))
    presets = experiments()
    if experiment not in presets:
        raise ConfigError(f"experiment: unknown {experiment!r}; allowed: {', '.join(presets)}")
    # deep copies: a dotted override below must not change the cached preset for later calls
    data = copy.deepcopy(deep_merge(deep_merge(presets[experiment], file), {"experiment": experiment}))
    if "agents" in overrides and isinstance(overrides["agents"], str):
        types = parse_agents(overrides["agents"])
        if data.get("agents"):
            overrides["agents"] = typed_seats(data["agents"], types, experiment)
        else:
            overrides["agents"] = [{"name": n, "type": t} for n, t in zip(seat_names(len(types)), types)]
    dotted = {k: v for k, v in overrides.items() if "." in k}
    data = deep_merge(data, {k: v for k, v in overrides.items() if "." not in k})
    if dotted and data.get("agents") is None and any(k.startswith("agents.") for k in dotted):
        n = int(data.get("n_agents", 5))
        data["agents"] = [{"name": name} for name in seat_names(n)]
    for key, value in dotted.items():
        set_path(data, key, value)
    return validate(data)


def configured(config: RunConfig | None, overrides: dict[str, Any]) -> RunConfig:
    """An env's config: ``config`` with keyword overrides, or one resolved from them alone."""
    if config is None:
        return resolve(overrides.get("experiment", "default"), overrides=overrides)
    return resolve(config.experiment, file=config.dump(), overrides=overrides) if overrides else config


def validate(data: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, RunConfig)) from None


def describe_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line: the first bad key, what was wrong, and what is allowed."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, err["loc"][:-1])
        return f"config: unknown key {loc!r}; allowed here: {', '.join(allowed)}"
    got = json.dumps(err.get("input"), default=str)
    if len(got) > 60:
        got = got[:57] + "..."
    msg = err["msg"].removeprefix("Value error, ")
    return f"config: {loc or 'value'}: {msg} (got {got})"


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    node: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = node.model_fields.get(part) if isinstance(node, type) and issubclass(node, BaseModel) else None
        if field is None:
            break
        node = _model_of(field.annotation)
    return sorted(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing a mapping that holds a key twice (SafeLoader keeps the last silently).

    Keys brought in by a merge (``<<: *base``) may be overridden: only the keys written in
    the mapping itself are compared.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:  # an unhashable key: SafeLoader reports it itself
                continue
            if seen is not key_node:
                raise yaml.constructor.ConstructorError(
                    problem=f"key {key!r} appears twice (first on line {seen.start_mark.line + 1}); keep one",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path, what: str) -> Any:
    """A YAML file's data; anything that stops it being read is one ``ConfigError`` line naming ``what``.

    ``what`` names the file for the user, e.g. "config file x.yaml". Duplicate keys are refused.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        return yaml.load(text, Loader=UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{what} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory; give a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what}: not a text file (byte {exc.object[exc.start]:#04x} at {exc.start} is not UTF-8)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}{_yaml_where(exc)}: not valid YAML ({_yaml_problem(exc)})") from None
    except RecursionError:
        raise ConfigError(f"{what}: nested too deeply to read") from None


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f" line {mark.line + 1}"
    position = getattr(exc, "position", None)  # a ReaderError: a character YAML does not allow
    return f" character {position}" if position is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        return f"character {character}: {exc.reason}"
    return " ".join(str(getattr(exc, "problem", None) or exc).split())


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML/JSON config file into a dict (one-line error if it cannot be read)."""
    path = Path(path)
    data = load_yaml(path, f"config file {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of keys, got {type(data).__name__}")
    return data
