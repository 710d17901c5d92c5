"""Institutions: parts that add phases to the month, selected by config.

``institutions: [election, sanctions]`` in a run config turns them on (none: the paper's
month). Each institution is one module here holding everything of it on the env's side:
its phases and where they go in the month, its observation and action keys and spaces,
its events (their schema is in ``govsim.events``), and the names and fields of its
sentences (the sentences themselves are in each scenario file, under ``sentences:``;
what scripted agents say under ``scripted:``). Agents find the keys here; the agents'
own behaviour lives with the agents (``agents/scripted.py``, ``agents/generative/``).

Why here and not in ``envs/``: agents, metrics and reports read an institution's keys and
event names, and none of them should import the PettingZoo env; the env drives the
institutions through the narrow ``Host`` interface below, as it uses ``govsim.dynamics``.

An institution subclasses ``Institution`` and overrides the hooks it needs; the env calls
each hook of every institution on, in the config's order. Adding one: a module with the
subclass, its name in ``REGISTRY`` and in ``govsim.config.INSTITUTIONS`` (with its
settings model), its phases in ``govsim.phases.Phase``, its event types in
``govsim.events``, its sentences in the scenario files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gymnasium import spaces

from govsim.phases import ACTION_KEYS, Phase

if TYPE_CHECKING:
    import numpy as np

    from govsim.config import RunConfig
    from govsim.scenarios import Scenario


class Host(Protocol):
    """What an institution may use of the env (``envs.commons_v0.CommonsEnv``)."""

    config: RunConfig
    scenario: Scenario
    agents: list[str]  # present, in seat order
    possible_agents: list[str]  # every seat, in seat order
    rng: np.random.Generator
    month: int
    phase: Phase
    agreed_limit: int  # the per-person limit in force (NO_LIMIT: none)
    last_harvest: dict[str, dict[str, int]]  # this month's wanted/caught per agent, once harvested
    report_lines: list[str]  # the public report of the month (empty: none this month)

    def event(self, type_: str, **fields: Any) -> None: ...
    def read_field(self, agent: str, action: Any, key: str) -> Any: ...
    def read_amount(self, agent: str, action: Any, key: str, low: int, high: int, default: int = 0) -> int: ...
    def read_text(self, agent: str, action: Any, key: str) -> str: ...
    def seat_named(self, value: Any) -> str | None: ...
    def flag_invalid(self, agent: str, key: str, value: Any, fix: str) -> None: ...
    def text_space(self, limit: int) -> spaces.Text: ...  # a Text space of the env's alphabet (observations)
    # Action spaces that also hold the forms agents send (envs/spaces.py):
    def amount_space(self, low: int) -> spaces.Box: ...  # a whole number in [low, capacity]
    def seat_space(self) -> spaces.Discrete: ...  # one seat: a name or a seat index
    def seats_space(self) -> spaces.MultiBinary: ...  # some seats: names or a 0/1 mask in seat order
    def words_space(self, limit: int) -> spaces.Text: ...  # any text of at most ``limit`` characters
    def sanitize(self, text: str) -> str: ...  # text made to fit the env's Text spaces


class Institution:
    """One institution's part of the env. Every hook has a do-nothing default."""

    name = ""
    placement: Mapping[Phase, Phase] = {}  # its phases, each put in before the base phase named
    keys: Mapping[Phase, tuple[str, ...]] = {}  # the action keys each of its phases reads, in the order to ask them
    sentences: Mapping[str, set[str]] = {}  # its sentence keys and the fields each is given
    scripted: Mapping[str, set[str]] = {}  # the lines scripted agents say in its phases, and their fields

    def __init__(self, host: Host) -> None:
        self.host = host

    # -- spaces (keys only while the institution is on)
    def observation_spaces(self) -> dict[str, spaces.Space]:
        return {}

    def action_spaces(self) -> dict[str, spaces.Space]:
        return {}

    # -- the month
    def reset(self) -> None:
        """A new episode."""

    def new_month(self) -> None:
        """A month has begun (before its first phase begins)."""

    def runs(self, phase: Phase) -> bool:
        """Whether its ``phase`` runs this month."""
        return True

    def begin(self, phase: Phase) -> None:
        """A phase (any, the base ones too) has just begun."""

    def acting(self, phase: Phase, agent: str) -> bool:
        return True

    def step(self, phase: Phase, actions: dict[str, Any]) -> dict[str, float]:
        """Play one step of its ``phase``; the rewards it gives (added to the step's)."""
        return {}

    def chair(self) -> str | None:
        """Who opens and sums up the talk (None: the env's rule)."""
        return None

    # -- what agents see
    def harvest_limit_lines(self, agent: str) -> list[str] | None:
        """The harvest's sentences on the limit in force (None: the env's agreed-limit sentence)."""
        return None

    def describe(self, agent: str) -> list[str]:
        """Its sentences in the agent's text for the current phase."""
        return []

    def observe(self, agent: str) -> dict[str, Any]:
        return {}

    def info(self, agent: str) -> dict[str, Any]:
        return {}

    # -- resuming (taken at the start of a month's harvest)
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _registry() -> dict[str, type[Institution]]:
    from govsim.institutions.election import Election
    from govsim.institutions.sanctions import Sanctions

    return {"election": Election, "sanctions": Sanctions}


REGISTRY: dict[str, type[Institution]] = _registry()


def build(names: list[str], host: Host) -> list[Institution]:
    """The institutions the config names, in its order, each checked against the scenario's sentences."""
    check_scenario(names, host.scenario)
    return [REGISTRY[name](host) for name in names]


def check_scenario(names: list[str], scenario: Scenario) -> None:
    """ValueError (one line) when the scenario lacks a sentence of one of these institutions."""
    for name in names:
        missing = [k for k in REGISTRY[name].sentences if k not in scenario.sentences]
        if missing:
            raise ValueError(
                f"scenario {scenario.name!r} lacks the {name} sentences {', '.join(missing)}; "
                f"add them (see govsim/scenarios/fishery.yaml) or run without {name}"
            )


def template_fields(section: Literal["sentences", "scripted"]) -> dict[str, set[str]]:
    """Every institution's templates of a scenario section (its ``sentences`` or the lines
    scripted agents say) and the fields each is given: the scenario loader checks them."""
    return {key: fields for cls in REGISTRY.values() for key, fields in getattr(cls, section).items()}


def action_keys() -> dict[Phase, tuple[str, ...]]:
    """The action keys every phase reads, the paper month's (``govsim.phases.ACTION_KEYS``) and
    the institutions' (a person at a seat, a fuzzer: what to ask for)."""
    return {**ACTION_KEYS, **{phase: keys for cls in REGISTRY.values() for phase, keys in cls.keys.items()}}


def label(names: list[str] | None) -> str:
    """The institutions of a run as one label, for grouping: ``none``, ``election``, ``election+sanctions``."""
    return "+".join(sorted(names)) if names else "none"
