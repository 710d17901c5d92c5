"""How much a memory matters, from 1 (routine) to 10 (life-changing), asked of the model.

Prompt ``importance`` (fields ``name``, ``memory``); the reply must contain 'Rating: N'
(enforced by a regex from the first attempt where the backend can). Fallback when no
attempt parses: ``DEFAULT`` (5), reported. A seat may fix the rating instead
(``params.importance: N``), which saves one model call per memory.
"""

from __future__ import annotations

import re
from typing import Sequence

from govsim.llm.base import Constraint

from agents.generative.asking import Asker, chat
from agents.generative.templates import Prompts

DEFAULT = 5
PATTERN = re.compile(r"rating\s*[:=]?\s*\**\s*(\d+)", re.IGNORECASE)
CONSTRAINT = Constraint(regex=r"Rating: ([1-9]|10)")
MAX_TOKENS = 12  # 'Rating: 10' and a little slack: there is nothing to reason about


def parse_rating(text: str) -> int | None:
    """'Rating: 7' (or a reply that is just '7') -> 7; None if absent or outside 1-10."""
    match = PATTERN.search(text)
    bare = text.strip().rstrip(".")
    if match:
        value = int(match.group(1))
    elif bare.isdigit():
        value = int(bare)
    else:
        return None
    return value if 1 <= value <= 10 else None


class Importance:
    def __init__(self, asker: Asker, prompts: Prompts, fixed: float | None = None) -> None:
        if fixed is not None and not 1 <= fixed <= 10:
            raise ValueError(f"params.importance must be within 1-10, got {fixed}")
        self.asker = asker
        self.prompts = prompts
        self.fixed = fixed

    async def rate(self, text: str, present: Sequence[str], month: int) -> float:
        if self.fixed is not None:
            return float(self.fixed)
        user = self.prompts.render("importance", name=self.prompts.name, memory=text)
        reply = await self.asker.ask(
            "importance",
            chat(self.prompts.system(present), user),
            parse_rating,
            month=month,
            constraint=CONSTRAINT,
            constrain_first=True,
            max_tokens=MAX_TOKENS,
        )
        if reply.value is None:
            self.asker.fallback("importance", DEFAULT, "no rating 1-10 in the reply", month)
            return float(DEFAULT)
        return float(reply.value)
