"""The agent interface and the registry of agent types.

An agent is a class with one coroutine, ``act(observation, info) -> action``. The
runner calls it for EVERY agent present at every step, so each agent can observe what
happened (others' utterances, the summary); only agents with ``info["acting"]`` true
are read, and the others should return ``{}``. It reads the observation of
``envs.commons_v0`` and returns an action dict with the keys the phase asks for (see
``govsim.phases``). An agent that raises is recorded as an ``agent_error`` event and
its action counts as missing. Agents are async so that the runner can have
every agent of every episode waiting on the inference layer at once.

The keys of each phase (``Phase(int(observation["phase"]))``, or ``info["phase"]`` as a label):

- HARVEST: ``harvest`` (an amount 0..stock).
- DISCUSSION (the speaker): ``utterance`` (text), ``end_conversation`` (0/1),
  ``next_speaker`` (a name of ``info["names"]`` or a seat index).
- SUMMARY (the scribe): ``summary`` (text), ``agreed_limit`` (an amount, -1 for none).
- REFLECTION: ``reflection`` (text).

With institutions on (config ``institutions``, ``govsim.institutions``), more phases:

- AGENDA (election; the candidates, ``info["candidates"]``): ``agenda_limit`` (the limit it
  would set, -1 for none) and ``agenda`` (a sentence); keys in ``govsim.institutions.election``.
- VOTE (election; everyone): ``vote``: a candidate's name or seat index (``info["agendas"]``
  lists them with their limits); anything else is an invalid vote, recorded.
- SANCTION (sanctions; everyone): ``sanction``: whom to fine, a list of names (of
  ``info["sanctionable"]``, those seen over the limit), one name, or a 0/1 mask in seat
  order; ``[]`` fines nobody. Each fine costs ``info["sanction_cost"]`` and takes
  ``info["sanction_fine"]`` from the one fined (``govsim.institutions.sanctions``).

Under an election ``info["leader"]`` names the leader, who speaks first and is the scribe;
the observation's ``agreed_limit`` is then its limit.

Register a type with ``@register("name")``, or from another package through the
``govsim.agents`` entry-point group (``name = "module:Class"``); a config then names it
per seat (``agents: [{name: Kate, type: name, model: ..., persona: ...}]``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from govsim.config import AgentSpec, RunConfig
from govsim.llm.base import LLM
from govsim.scenarios import Scenario

ENTRY_POINT_GROUP = "govsim.agents"

Emit = Callable[[dict[str, Any]], None]


@dataclass
class AgentContext:
    """What an agent is given when it is created."""

    seat: AgentSpec
    config: RunConfig
    scenario: Scenario
    rng: np.random.Generator  # the agent's own seeded RNG
    emit: Emit = field(default=lambda event: None)  # record an event (llm_call, parse_failure, ...)
    llm: LLM | None = None  # this seat's model, for agents that need one

    @property
    def name(self) -> str:
        return self.seat.name


class Agent(ABC):
    """Base class of every agent type. Subclasses set ``needs_llm`` if they call a model."""

    needs_llm: bool = False

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.name = ctx.name

    @abstractmethod
    async def act(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        """The action for this step's phase (``info["phase"]``)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state, saved at month boundaries so a killed run can resume."""
        return {"rng": self.ctx.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ctx.rng.bit_generator.state = state["rng"]


_REGISTRY: dict[str, type[Agent]] = {}


def register(name: str) -> Callable[[type[Agent]], type[Agent]]:
    def deco(cls: type[Agent]) -> type[Agent]:
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    import agents.human  # noqa: F401  (the seat a person plays)
    import agents.scripted  # noqa: F401  (registers the scripted types)

    try:
        import agents.generative  # noqa: F401
    except ImportError:
        pass


@lru_cache(maxsize=1)
def _load_installed() -> None:
    """Built-in types and those of installed packages, scanned once per process."""
    _load_builtin()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = ep.load()


def registered() -> dict[str, type[Agent]]:
    """All agent types: built-in, installed through entry points, and registered at run time."""
    _load_installed()
    return dict(_REGISTRY)


def get(name: str) -> type[Agent]:
    types = registered()
    if name not in types:
        raise KeyError(f"unknown agent type {name!r}; known: {', '.join(sorted(types))}")
    return types[name]


def create(ctx: AgentContext) -> Agent:
    return get(ctx.seat.type or ctx.config.agent)(ctx)
