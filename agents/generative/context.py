"""What every component of the generative agent is given: the ``Context`` of one step.

A component is anything of the shape ``async (ctx: Context) -> part`` (``Component``):
a decision returns its part of the action, an observer the notes to store. (The mind's
importance rating, ``importance.rate(ctx, note)``, takes the context and the note it
rates.) The context holds

- ``asker``: the way to the model (``asking.Asker``: sampling, retries, failure events);
- ``prompts``: the scenario's templates and the system text (``templates.Prompts``);
- ``params``: the seat's parsed parameters (``params.GenerativeParams``);
- ``mind``: the memory stream, through ``ctx.recall(focus)`` (what comes to mind, the
  same ``Recalled`` for every decision) and ``ctx.remember(notes)``;
- ``moment``: the step as the env shows it (``Moment``: observation, info, and what is
  read of them: month, phase, date, who is present, the talk so far).

A context is frozen: a component cannot swap what another one is given. The mind is the
one state they share: what a component stores through ``ctx.remember`` is what later
recalls find.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from agents.generative.asking import Asker
from agents.generative.memory import Month, Note
from agents.generative.params import GenerativeParams
from agents.generative.templates import Prompts
from govsim.phases import Phase

if TYPE_CHECKING:
    from agents.generative.mind import Focus, Mind, Recalled

T = TypeVar("T")
Component = Callable[["Context"], Awaitable[T]]

# The agent's clock by phase (see ``agent``): the institutions' steps are on the harvest day.
HARVEST_DAY = tuple(p.label for p in (Phase.HARVEST, Phase.AGENDA, Phase.VOTE, Phase.SANCTION))
TALK_DAY = (Phase.DISCUSSION.label, Phase.SUMMARY.label)


@dataclass(frozen=True)
class Moment:
    """One step of the env as one agent sees it: its observation and info."""

    observation: Mapping[str, Any]
    info: Mapping[str, Any]

    @property
    def month(self) -> int:
        return int(self.info["month"])

    @property
    def phase(self) -> str:
        """The phase's label (``Phase.label``)."""
        return self.info["phase"]

    @property
    def date(self) -> str:
        return self.info["date"]

    @property
    def times(self) -> Month:
        return Month.of(self.date)

    @property
    def present(self) -> list[str]:
        return list(self.info["present"])

    @property
    def acting(self) -> bool:
        return bool(self.info["acting"])

    @property
    def talk(self) -> list[str]:
        """The conversation as heard: the mayor's report (if any) first, then one entry a line."""
        report = str(self.observation["report"])
        return ([report] if report else []) + str(self.observation["conversation"]).splitlines()

    def leads(self, name: str) -> bool:
        """Whether ``name`` leads the talk: the reference's persona_0, the first present (an elected leader)."""
        return (self.info.get("leader") or (self.info["present"] or [None])[0]) == name

    def clock(self, name: str) -> datetime:
        """The simulated time of ``name`` in this step (see ``agent``)."""
        if self.phase in HARVEST_DAY:
            return self.times.harvest
        if self.phase in TALK_DAY:
            return self.times.talk if self.leads(name) else self.times.harvest
        return self.times.home


@dataclass(frozen=True)
class Context:
    asker: Asker
    prompts: Prompts
    params: GenerativeParams
    mind: Mind
    moment: Moment

    @property
    def name(self) -> str:
        return self.prompts.name

    @property
    def month(self) -> int:
        return self.moment.month

    @property
    def system(self) -> str:
        """The system text that opens the agent's requests, for those present now."""
        return self.prompts.system(self.moment.present)

    async def recall(self, focus: Focus) -> Recalled:
        """What comes to mind for a decision (``mind.FOCUS``)."""
        return await self.mind.recall(self, focus)

    async def remember(self, notes: Sequence[Note]) -> None:
        """Rate, embed and store the notes, in order (``mind.Mind.remember``)."""
        await self.mind.remember(self, notes)
