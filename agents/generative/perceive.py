"""Turning what the agent sees into memories, each thing once, as the reference stores them.

The reference stores three observations of the environment, each always relevant
(importance 10, no model call) and expiring at the month's end
(simulation/scenarios/common/environment/concurrent_env.py): the stock before the harvest
and, with universalization, the hint (both dated the harvest day), and after the harvest
the agent's own catch (dated just before the talk). The mayor's report and the turns of
the talk are not stored as memories: they are in the conversation the agent is shown,
and after the talk its summary and the agent's thoughts on it are stored instead (see
``agent.after_talk``).

The runner may call an agent only in steps where it acts, so every call catches up on
what the observation shows of the current month and was not stored yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.generative.memory import Month, Note
from agents.generative.templates import Prompts
from govsim.phases import Phase

BEFORE_HARVEST = (Phase.AGENDA.label, Phase.VOTE.label)  # the phases an election puts before the harvest


@dataclass
class Seen:
    """What of ``month`` is already in memory."""

    month: int = 0
    stock: bool = False
    catch: bool = False
    talk: bool = False  # the thoughts after this month's talk are written


class Perception:
    def __init__(self, prompts: Prompts) -> None:
        self.prompts = prompts
        self.seen = Seen()

    def observe(self, observation: dict[str, Any], info: dict[str, Any]) -> list[Note]:
        """The observations new since the last call, as always-relevant events."""
        if info["month"] != self.seen.month:
            self.seen = Seen(month=info["month"])
        seen, times = self.seen, Month.of(info["date"])
        say = self.prompts.scenario.say
        notes: list[Note] = []

        def event(text: str, created) -> None:
            notes.append(Note("event", text, always_relevant=True, created=created, expiry=times.end, source="observation"))

        if info["phase"] in BEFORE_HARVEST:
            return notes  # an election's steps: the observation still shows last month's catch
        if info["phase"] == Phase.HARVEST.label:
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

    def talk_over(self, observation: dict[str, Any], info: dict[str, Any]) -> bool:
        """True once a month, at its REFLECTION step, if the month had a meeting."""
        if info["phase"] != Phase.REFLECTION.label or self.seen.talk:
            return False
        if not (str(observation["report"]) or info["conversation"]):
            return False
        self.seen.talk = True
        return True
