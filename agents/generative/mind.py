"""The agent's memory at work: what comes to mind for a decision, and storing what is new.

What comes to mind follows the reference GovSim (simulation/persona/cognition/, fishing
persona_v3), by focus (``FOCUS``):

- ``harvest`` (the harvest, and the institutions' agenda, vote and sanction): focal point
  ``focus_harvest``, top ``params.recall``;
- ``talk`` (a turn at the meeting): focal points "" and the last four entries of the
  conversation (the mayor's report is its first), top ``params.recall_talk`` each;
- ``home`` (reflection): focal point ``focus_reflect``, top ``params.reflect_on``.

Every decision gets the same ``Recalled``: the memories, oldest first, and the list the
prompts show. The stock, the universalization hint, the agent's own catch and the agreed
limits are always included (importance 10, no model call; see ``retrieval``).

Events (through the agent's ``emit``): ``insight`` for every thought stored and ``memory``
for every other memory (agent, kind, source, text, importance, month, created, expires,
id, always_relevant, cites).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agents.base import Emit
from agents.generative import importance
from agents.generative.memory import Memory, MemoryStream, Note
from agents.generative.retrieval import Scoring, retrieve
from agents.generative.templates import Prompts
from govsim.llm.embed import Embedder

if TYPE_CHECKING:
    from agents.generative.context import Context

Focus = Literal["harvest", "talk", "home"]
FOCUS: tuple[Focus, ...] = ("harvest", "talk", "home")
TALK_FOCAL_TURNS = 4  # the reference's focal points at a turn: "" and the last four entries


@dataclass(frozen=True)
class Recalled:
    memories: list[Memory]  # oldest first
    text: str  # as prompts list them: numbered from 1 (as reflection cites them), or the 'nothing' line

    @classmethod
    def of(cls, prompts: Prompts, memories: Sequence[Memory]) -> Recalled:
        return cls(list(memories), prompts.memories(memories))


def focal_points(ctx: Context, focus: Focus) -> tuple[list[str], int]:
    """The focus's focal points and how many memories each recalls."""
    if focus == "harvest":
        return [ctx.prompts.render("focus_harvest")], ctx.params.recall
    if focus == "home":
        return [ctx.prompts.render("focus_reflect")], ctx.params.reflect_on
    if focus == "talk":
        report = str(ctx.moment.observation["report"])
        entries = ([report] if report else []) + [str(t["text"]) for t in ctx.moment.info["conversation"]]
        return ["", *entries[-TALK_FOCAL_TURNS:]], ctx.params.recall_talk
    raise ValueError(f"focus {focus!r}: use one of {FOCUS}")


class Mind:
    """The memory stream (``memory``, with the agent's clock), its embedder and retrieval's scoring."""

    def __init__(self, embedder: Embedder, scoring: Scoring, emit: Emit, name: str) -> None:
        self.memory = MemoryStream()
        self.embedder = embedder
        self.scoring = scoring
        self.emit = emit
        self.name = name

    async def recall(self, ctx: Context, focus: Focus) -> Recalled:
        points, k = focal_points(ctx, focus)
        vectors = await self.embedder.embed(points)
        return Recalled.of(ctx.prompts, retrieve(self.memory.memories, list(vectors), self.memory.now, k, self.scoring))

    async def remember(self, ctx: Context, notes: Sequence[Note]) -> None:
        """Rate (``importance``) and embed the notes, all at once; store them in order, report each."""
        if not notes:
            return
        ratings, vectors = await asyncio.gather(
            asyncio.gather(*(importance.rate(ctx, n) for n in notes)), self.embedder.embed([n.text for n in notes])
        )
        for note, rating, vector in zip(notes, ratings, vectors):
            memory = self.memory.add(
                note.kind, note.text, rating, vector, ctx.month,
                created=note.created, expiry=note.expiry, always_relevant=note.always_relevant, cites=note.cites,
            )
            self.emit(
                {
                    "type": "insight" if note.kind == "thought" else "memory",
                    "agent": self.name,
                    "kind": note.kind,
                    "source": note.source,
                    "text": note.text,
                    "importance": rating,
                    "month": ctx.month,
                    "created": memory.created.isoformat(),
                    "expires": memory.expiry.isoformat(),
                    "id": memory.id,
                    "always_relevant": note.always_relevant,
                    "cites": list(note.cites),
                }
            )
