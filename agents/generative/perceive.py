"""Turning what the agent sees into notes for its memory, each thing once.

The runner calls an agent only in steps where it acts, so a listener is not called while
others speak. Every call therefore catches up on what the observation shows of the
current month and was not stored yet: the stock before the harvest, the agent's own
harvest report, the mayor's public report, the others' utterances, the meeting summary.
(The agreed limit, an always-relevant memory, is tracked by the agent itself.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govsim.phases import Phase

from agents.generative.memory import Note
from agents.generative.templates import Prompts


@dataclass
class Seen:
    """What of ``month`` is already in memory."""

    month: int = 0
    stock: bool = False
    harvest: bool = False
    report: bool = False
    turns: int = 0  # conversation turns looked at
    summary: bool = False


class Perception:
    def __init__(self, prompts: Prompts) -> None:
        self.prompts = prompts
        self.seen = Seen()

    def observe(self, observation: dict[str, Any], info: dict[str, Any]) -> list[Note]:
        """The notes new since the last call."""
        if info["month"] != self.seen.month:
            self.seen = Seen(month=info["month"])
        seen, phase = self.seen, info["phase"]
        notes: list[Note] = []
        if phase == Phase.HARVEST.label:
            if not seen.stock:
                seen.stock = True
                notes.append(Note("event", str(observation["text"])))
            return notes
        if not seen.harvest:
            seen.harvest = True
            notes.append(Note("event", self._harvest_report(observation)))
        report = str(observation["report"])
        if report and not seen.report:
            seen.report = True
            notes.append(Note("event", report))
        conversation = info["conversation"]
        for turn in conversation[seen.turns :]:
            if turn["speaker"] != self.prompts.name and turn["text"].strip():
                notes.append(Note("chat", self.prompts.render("memory_chat", speaker=turn["speaker"], text=turn["text"])))
        seen.turns = len(conversation)
        # the env keeps the last summary across months: only a month with a meeting has a new one
        if phase == Phase.REFLECTION.label and report and info["summary"] and not seen.summary:
            seen.summary = True
            notes.append(Note("event", self.prompts.render("memory_summary", summary=info["summary"])))
        return notes

    def _harvest_report(self, observation: dict[str, Any]) -> str:
        return self.prompts.scenario.say(
            "harvest_report",
            wanted=int(observation["wanted"][0]),
            caught=int(observation["caught"][0]),
            stock_after=int(observation["stock"][0]),
        )
