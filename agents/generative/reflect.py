"""Reflection: turning recent memories into a few high-level insights.

Prompt: the system message, then ``reflect`` (fields ``name``, ``memories``: the recent
memories numbered from 1, ``count``: how many insights to give). Each insight is a line
'insight (because of 1, 5, 3)'; the numbers are mapped back to the memories they cite.
Lines without the '(because of ...)' part (preambles, chatter) are not insights. Retries
follow up with ``reflect_retry`` under a regex constraint for 1..count such lines.
Fallback when no attempt gives one: no insights this month, reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from govsim.llm.base import Constraint, Message

from agents.generative.asking import Asker, chat, continued
from agents.generative.memory import Memory
from agents.generative.templates import Prompts

LINE = re.compile(r"^\W*(?:\d+[.)]\s*)?(.*?\S)\s*\(\s*because of\s*([^)]*)\)\W*$", re.I | re.M)
MAX_INSIGHT_CHARS = 300
CONSTRAINED_CHARS = 200  # an insight a retry's regex allows, so `count` of them fit max_tokens


@dataclass
class Insight:
    text: str
    evidence: list[int] = field(default_factory=list)  # ids of the memories it cites


def parse_insights(text: str, cited: Sequence[Memory], count: int) -> list[Insight] | None:
    """Up to ``count`` insights; citations outside the numbered list are dropped."""
    insights = []
    for match in LINE.finditer(text):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(2))]
        evidence = sorted({cited[n - 1].id for n in numbers if 1 <= n <= len(cited)})
        insights.append(Insight(match.group(1).strip()[:MAX_INSIGHT_CHARS], evidence))
    return insights[:count] or None


def insights_constraint(count: int) -> Constraint:
    line = rf"[^\n()]{{5,{CONSTRAINED_CHARS}}} \(because of [0-9]{{1,3}}(, [0-9]{{1,3}}){{0,9}}\)"
    return Constraint(regex=rf"{line}(\n{line}){{0,{max(0, count - 1)}}}")


async def reflect(
    asker: Asker, prompts: Prompts, system: str, memories: Sequence[Memory], count: int, month: int
) -> list[Insight]:
    messages: list[Message] = chat(
        system, prompts.render("reflect", name=prompts.name, memories=prompts.memories(memories), count=count)
    )
    reply = await asker.ask(
        "reflect",
        messages,
        lambda text: parse_insights(text, memories, count),
        month=month,
        constraint=insights_constraint(count),
        follow_up=lambda text: continued(messages, text, prompts.render("reflect_retry", count=count)),
    )
    if reply.value is None:
        asker.fallback("reflect", [], "no 'insight (because of ...)' line in the reply; no insights", month)
        return []
    return reply.value
