"""Turning what the agent sees into memories, each thing once, as the reference stores them.

The reference stores three observations of the environment, each always relevant
(importance 10, no model call) and expiring at the month's end
(simulation/scenarios/common/environment/concurrent_env.py): the stock before the harvest
and, with universalization, the hint (both dated the harvest day), and after the harvest
the agent's own catch (dated just before the talk). The mayor's report and the turns of
the talk are not stored as memories: they are in the conversation the agent is shown,
and after the talk its summary and the agent's thoughts on it are stored instead (see
``reflect.after_talk``; ``talk_over`` says when). The phases an institution puts before
the harvest (an election's agenda and vote) see nothing new: their observation still
shows last month's catch.

The runner may call an agent only in steps where it acts, so every call catches up on
what the observation shows of the current month and was not stored yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.generative.memory import Note
from agents.generative.templates import Prompts
from govsim import institutions
from govsim.phases import Phase, month_plan

if TYPE_CHECKING:
    from agents.generative.context import Context, Moment


@dataclass
class Seen:
    """What of ``month`` is already in memory."""

    month: int = 0
    stock: bool = False
    catch: bool = False
    talk: bool = False  # the thoughts after this month's talk are written


class Perception:
    """The observer component: ``await perception(ctx)`` gives the notes new in this step."""

    def __init__(self, prompts: Prompts) -> None:
        self.prompts = prompts
        self.seen = Seen()
        # the phases the config's institutions put before the harvest (an election's): the
        # observation then still shows last month's catch, as the env's month plan says
        plan = month_plan(institutions.REGISTRY[name].placement for name in prompts.config.institutions)
        self.before_harvest = {phase.label for phase in plan[: plan.index(Phase.HARVEST)]}

    async def __call__(self, ctx: Context) -> list[Note]:
        """The observations new since the last call, as always-relevant events."""
        moment = ctx.moment
        observation, info = moment.observation, moment.info
        if moment.month != self.seen.month:
            self.seen = Seen(month=moment.month)
        seen, times = self.seen, moment.times
        say = self.prompts.scenario.say
        notes: list[Note] = []

        def event(text: str, created) -> None:
            notes.append(Note.observed(text, created, times.end))

        if moment.phase in self.before_harvest:
            return notes
        if moment.phase == Phase.HARVEST.label:
            if not seen.stock:
                seen.stock = True
                event(say("stock_before_harvest", stock=int(observation["stock"][0])), times.harvest)
                if "threshold" in info:  # universalization is on
                    event(say("universalization_hint", threshold=info["threshold"]), times.harvest)
            return notes
        if not seen.catch:
            seen.catch = True
            wanted, caught = int(observation["wanted"][0]), int(observation["caught"][0])
            lines = [say("harvest_report", name=self.prompts.name, wanted=wanted, caught=caught)]
            if self.prompts.config.opts.stock_left_report:  # as the env tells it
                lines.append(say("stock_left", stock_after=int(observation["stock"][0])))
            event(" ".join(lines), times.catch_report)
        return notes

    def talk_over(self, moment: Moment) -> bool:
        """True once a month, at its REFLECTION step, if the month had a meeting."""
        if moment.phase != Phase.REFLECTION.label or self.seen.talk:
            return False
        if not (str(moment.observation["report"]) or moment.info["conversation"]):
            return False
        self.seen.talk = True
        return True
