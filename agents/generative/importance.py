"""How much a memory matters, from 1 (mundane) to 10 (life-changing), asked of the model.

As in the reference (fishing persona_v3 store_prompts.py) there is one prompt per kind of
memory: ``importance_event``, ``importance_chat``, ``importance_thought``,
``importance_action`` (fields ``name``, ``memory``), each after the system text, and the
answer's opening ``importance_answer`` ("Rating (1 to 10): ") as an open assistant turn.
The answer is a choice among "1".."10", enforced from the first attempt where the backend
takes constraints (the reference selects among the ten options); a reply without
constraints is read as 'Rating: N' or a bare number. Memories flagged always relevant get
10 without asking.

Fallback when no attempt parses: ``DEFAULT`` (5, the reference's default), reported as a
``fallback`` event; the reference takes it silently. A seat may fix the rating instead
(``params.importance: N``), which saves one model call per memory.

Not a decision but the mind's helper (``mind.Mind.remember`` rates every note it stores):
``rate(ctx, note)`` takes the step's ``Context`` for the model, the prompts and the params,
and the note it rates.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agents.generative.asking import chat, prefilled
from agents.generative.memory import ALWAYS_IMPORTANCE, Note
from govsim.llm.base import Constraint
from govsim.phases import Purpose

if TYPE_CHECKING:
    from agents.generative.context import Context

DEFAULT = 5
PATTERN = re.compile(r"rating(?:\s*\([^)\n]*\))?\s*[:=]?\s*\**\s*(\d+)", re.IGNORECASE)
# the longest first, so a backend that picks the first option found in a reply reads "10" as 10
CONSTRAINT = Constraint(choice=tuple(str(n) for n in range(10, 0, -1)))
MAX_TOKENS = 12  # 'Rating: 10' and a little slack: there is nothing to reason about


def parse_rating(text: str) -> int | None:
    """'Rating: 7', 'Rating (1 to 10): 7' or a reply that is just '7' -> 7; None if absent or outside 1-10."""
    match = PATTERN.search(text)
    bare = text.strip().rstrip(".")
    if match:
        value = int(match.group(1))
    elif bare.isdigit():
        value = int(bare)
    else:
        return None
    return value if 1 <= value <= 10 else None


async def rate(ctx: Context, note: Note) -> float:
    """The importance of ``note``: 10 when always relevant, the seat's fixed rating, or the model's."""
    if note.always_relevant:
        return ALWAYS_IMPORTANCE
    if ctx.params.importance is not None:
        return float(ctx.params.importance)
    user = ctx.prompts.render(f"importance_{note.kind}", name=ctx.name, memory=note.text)
    reply = await ctx.asker.ask(
        Purpose.IMPORTANCE,
        prefilled(chat(ctx.system, user), ctx.prompts.render("importance_answer")),
        parse_rating,
        month=ctx.month,
        constraint=CONSTRAINT,
        constrain_first=True,
        max_tokens=MAX_TOKENS,
    )
    if reply.value is None:
        ctx.asker.fallback(Purpose.IMPORTANCE, DEFAULT, "no rating 1-10 in the reply", ctx.month)
        return float(DEFAULT)
    return float(reply.value)
