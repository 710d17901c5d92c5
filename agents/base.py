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

Agent types are found by name, all the same way: through entry points of the group
``govsim.agents`` (``name = "module:Class"``). The built-in ones are the table ``BUILTIN``
here (entry points too, so nothing depends on how govsim was installed); a package adds
its own in its pyproject.toml::

    [project.entry-points."govsim.agents"]
    cautious = "govsim_cautious:Cautious"

(experiments/plugin_example is one to copy). A type's module is imported when the type is
first asked for, and an error inside it is raised as itself. A built-in name cannot be
taken by a package. ``@register("name")`` adds a class at run time (tests, notebooks); it
takes precedence over the entry points. A config then names the type per seat
(``agents: [{name: Kate, type: name, model: ..., persona: ..., params: {...}}]``).

Params: a class declares ``Params``, a subclass of ``agents.params.AgentParams`` with the
keys its seats may set (an empty one when it takes none); ``Agent.__init__`` parses the
seat's ``params`` through it into ``self.params``, and ``govsim run``/``sweep`` do the same
for every seat before anything runs, so a typo is one line and exit status 2::

    class CautiousParams(AgentParams):
        margin: float = Field(0.5, ge=0, le=1)

    class Cautious(ScriptedAgent):
        Params = CautiousParams   # then read self.params.margin

A class that declares none gets ``AnyParams``: any keys, unchecked, left to the class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar

import numpy as np

from agents.params import AgentParams, AnyParams, parse_params
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
    """Base class of every agent type. Subclasses set ``needs_llm`` if they call a model, and
    ``Params`` to the params their seats may set (see the module docstring)."""

    needs_llm: ClassVar[bool] = False
    Params: ClassVar[type[AgentParams]] = AnyParams

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.name = ctx.name
        self.params = seat_params(type(self), ctx.seat)

    @abstractmethod
    async def act(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        """The action for this step's phase (``info["phase"]``)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state, saved at month boundaries so a killed run can resume."""
        return {"rng": self.ctx.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ctx.rng.bit_generator.state = state["rng"]


def seat_params(cls: type[Agent], seat: AgentSpec) -> AgentParams:
    """The seat's params parsed through ``cls.Params``; a ValueError of one line names the seat."""
    try:
        return parse_params(seat.type or cls.__name__, cls.Params, seat.params)
    except ValueError as exc:
        raise ValueError(f"agent {seat.name}: {exc}") from None


def _builtin(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, target, ENTRY_POINT_GROUP)


# The built-in types, loaded exactly as an installed package's entry points are.
BUILTIN: tuple[EntryPoint, ...] = (
    _builtin("greedy", "agents.scripted:Greedy"),
    _builtin("sustainable", "agents.scripted:Sustainable"),
    _builtin("fixed", "agents.scripted:Fixed"),
    _builtin("random", "agents.scripted:Random"),
    _builtin("conditional", "agents.scripted:Conditional"),
    _builtin("human", "agents.human:HumanAgent"),
    _builtin("generative", "agents.generative:GenerativeAgent"),
)

_REGISTRY: dict[str, type[Agent]] = {}  # registered at run time


def register(name: str) -> Callable[[type[Agent]], type[Agent]]:
    """Add an agent type at run time (it takes precedence over an entry point of the same name)."""

    def deco(cls: type[Agent]) -> type[Agent]:
        _REGISTRY[name] = cls
        return cls

    return deco


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    """Every entry point by name, scanned once per process: the built-ins first, so a package cannot take their names."""
    found: dict[str, EntryPoint] = {}
    for ep in (*BUILTIN, *entry_points(group=ENTRY_POINT_GROUP)):
        found.setdefault(ep.name, ep)
    return found


def names() -> list[str]:
    """The names of all agent types (none is imported to list them)."""
    return sorted({*_entry_points(), *_REGISTRY})


def get(name: str) -> type[Agent]:
    """The agent type ``name``; its module is imported now, and an error inside it is raised as itself."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    ep = _entry_points().get(name)
    if ep is None:
        raise KeyError(f"unknown agent type {name!r}; known: {', '.join(names())}")
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise TypeError(f"agent type {name!r}: entry point {ep.value!r} is not a subclass of agents.base.Agent")
    return cls


def registered() -> dict[str, type[Agent]]:
    """All agent types, each imported: built-in, installed through entry points, and registered at run time."""
    return {name: get(name) for name in names()}


def create(ctx: AgentContext) -> Agent:
    return get(ctx.seat.type or ctx.config.agent)(ctx)
