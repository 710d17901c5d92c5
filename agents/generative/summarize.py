"""The scribe's job after the meeting: a one-sentence summary and the agreed limit.

Prompt: the system message, then ``summarize`` (field ``conversation``). The reply must
hold 'Summary: <sentence>' and 'Limit: <N>' or 'Limit: N/A' (no agreement: ``NO_LIMIT``,
-1). Retries follow up with ``summarize_retry`` under a regex constraint for both lines.
Fallback when no attempt parses: the reply with its format lines removed as the summary
(possibly empty) and no agreed limit (-1), reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from govsim.llm.base import Constraint, Message
from govsim.phases import NO_LIMIT

from agents.generative.asking import Asker, chat, continued
from agents.generative.templates import Prompts

SUMMARY = re.compile(r"^\W*summary\W*:\s*([^\n]+)", re.I | re.M)
LIMIT = re.compile(r"^\W*limit\W*:\s*\**\s*(n/?a|none|no limit|\d+)", re.I | re.M)
FORMAT_LINE = re.compile(r"^\s*(summary|limit)\s*:\s*", re.I | re.M)
MAX_SUMMARY_CHARS = 1000
CONSTRAINED_CHARS = 400  # the summary a retry's regex allows: short enough to fit max_tokens


@dataclass
class Minutes:
    summary: str
    limit: int  # NO_LIMIT when none was agreed


def parse_minutes(text: str) -> Minutes | None:
    summary, limit = SUMMARY.search(text), LIMIT.search(text)
    if not summary or not limit or not summary.group(1).strip():
        return None
    value = limit.group(1)
    return Minutes(summary.group(1).strip()[:MAX_SUMMARY_CHARS], int(value) if value.isdigit() else NO_LIMIT)


def minutes_constraint(capacity: int, unit: str) -> Constraint:
    digits = len(str(capacity))
    return Constraint(
        regex=rf"Summary: [^\n]{{1,{CONSTRAINED_CHARS}}}\nLimit: (N/A|(0|[1-9][0-9]{{0,{digits - 1}}}) {re.escape(unit)})"
    )


async def summarize(asker: Asker, prompts: Prompts, system: str, conversation: str, month: int) -> Minutes:
    messages: list[Message] = chat(system, prompts.render("summarize", conversation=conversation))
    reply = await asker.ask(
        "summarize",
        messages,
        parse_minutes,
        month=month,
        constraint=minutes_constraint(prompts.config.capacity, prompts.scenario.vocabulary.unit),
        follow_up=lambda text: continued(messages, text, prompts.render("summarize_retry")),
    )
    if reply.value is not None:
        return reply.value
    minutes = Minutes(FORMAT_LINE.sub("", reply.text).strip()[:MAX_SUMMARY_CHARS], NO_LIMIT)
    used = {"summary": minutes.summary, "agreed_limit": NO_LIMIT}
    asker.fallback("summarize", used, "no 'Summary:' and 'Limit:' in the reply; no limit recorded", month)
    return minutes
