"""The minutes of the meeting: a one-sentence summary and the agreed limit.

As in the reference, a neutral framework model writes them, with no persona and no system
text: the scribe seat (the first present) only carries the request. Two separate asks:

- ``summarize``: the conversation, then "summarise it in one sentence"; the reply stops
  at its first period, which is kept.
- ``summarize_limit``: was there an explicit agreement on a concrete per-person limit?
  Step by step, the final answer after "Answer:"; the reasoning stops at the marker and
  the reply is continued after "Answer: " under a constraint (a number or N/A), read
  from that continuation alone. N/A is ``NO_LIMIT`` (-1).

Where nothing can be read (a backend without constraints, after the retries), there is
no agreed limit (the reference's default), reported as a ``fallback``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agents.generative.asking import Asker, chat, prefilled
from agents.generative.harvest import ANSWER_PREFIX, digits_constraint
from govsim.llm.base import Constraint
from govsim.phases import AGREED_LIMIT, NO_LIMIT, SUMMARY, Purpose

if TYPE_CHECKING:
    from agents.generative.context import Context

NO_AGREEMENT = "N/A"
LIMIT_ANSWER = re.compile(r"\s*(?:(\d+)|n/?a\b)", re.I)
MAX_LIMIT_TOKENS = 4


def parse_limit(text: str) -> int | None:
    """The limit a continuation after 'Answer: ' starts with: a number, or N/A (NO_LIMIT)."""
    match = LIMIT_ANSWER.match(text)
    if not match:
        return None
    return int(match.group(1)) if match.group(1) else NO_LIMIT


def one_sentence(text: str) -> str:
    """Up to and including the first period (the reference stops there)."""
    head, dot, _ = text.strip().partition(".")
    return (head + dot).strip() if head.strip() else ""


async def ask_limit(asker: Asker, purpose: str, opened: list, capacity: int, month: int, missing: str) -> int:
    """A limit continued in an open turn under a constraint (a number up to the capacity, or
    N/A); NO_LIMIT when none can be read, reported as a fallback with reason ``missing``."""
    digits = digits_constraint(capacity).regex
    limit = await asker.ask(
        purpose, opened, parse_limit, month=month, constraint=Constraint(regex=f"{digits}|{NO_AGREEMENT}"),
        constrain_first=True, max_tokens=MAX_LIMIT_TOKENS,
    )
    if limit.value is None:
        asker.fallback(purpose, NO_LIMIT, missing, month)
        return NO_LIMIT
    return limit.value


async def decide(ctx: Context) -> dict[str, str | int]:
    """The scribe's minutes: the one-sentence summary and the agreed limit."""
    asker, prompts, month = ctx.asker, ctx.prompts, ctx.month
    conversation = prompts.conversation(ctx.moment.talk)
    summary = await asker.ask(
        Purpose.SUMMARIZE, chat("", prompts.render("summarize", conversation=conversation)), lambda t: t,
        month=month, stop=(".",),
    )
    asked = chat("", prompts.render("summarize_limit", conversation=conversation))
    reasoning = await asker.ask(Purpose.SUMMARIZE_LIMIT, asked, lambda t: t, month=month, stop=(ANSWER_PREFIX.strip(),))
    limit = await ask_limit(
        asker, Purpose.SUMMARIZE_LIMIT, prefilled(asked, f"{reasoning.text.rstrip()}\n{ANSWER_PREFIX}"),
        prompts.config.capacity, month, "no number or N/A after 'Answer: '; no limit recorded",
    )
    # the stop string is not part of the reply: the period that ended it is put back
    said = summary.text.strip() + ("." if summary.finish == "stop" else "")
    return {SUMMARY: one_sentence(said), AGREED_LIMIT: limit}
