"""How much to harvest this month.

Prompt: the system message, then ``harvest`` (fields ``date``, ``memories``: the top
recalled memories, ``observation``: the env's observation text). The model may reason
freely; the amount is read from the last 'Answer: N'. Retries follow up in the same chat
with ``harvest_retry`` under a regex constraint ('Answer: N <unit>.'), so the reasoning
already written still counts.

Fallback when no attempt parses: the agent makes NO request (the action has no
``harvest`` key); the env then records an ``invalid_action`` and applies its own default
(0). This is reported as a ``fallback`` event with used ``"no request"``. Guessing an
amount instead would hide a model's failure inside the very numbers the experiment
measures; making none keeps it visible in three places (parse_failure, fallback,
invalid_action).
"""

from __future__ import annotations

import re

from govsim.llm.base import Constraint, Message

from agents.generative.asking import Asker, chat, continued
from agents.generative.templates import Prompts

ANSWER = re.compile(r"answer\s*:\s*\**\s*\$?\s*(-?\d+)", re.IGNORECASE)
NO_REQUEST = "no request"


def parse_amount(text: str) -> int | None:
    """The amount after the last 'Answer:'; negative and too-large numbers are left to the env."""
    found = ANSWER.findall(text)
    return int(found[-1]) if found else None


def answer_constraint(capacity: int, unit: str) -> Constraint:
    digits = len(str(capacity))
    return Constraint(regex=rf"Answer: (0|[1-9][0-9]{{0,{digits - 1}}}) {re.escape(unit)}\.")


async def decide(
    asker: Asker, prompts: Prompts, system: str, memories: str, observation: str, date: str, month: int
) -> int | None:
    """The amount to ask for, or None after a reported fallback (then send no request)."""
    messages: list[Message] = chat(
        system, prompts.render("harvest", date=date, memories=memories, observation=observation)
    )
    unit = prompts.scenario.vocabulary.unit
    reply = await asker.ask(
        "harvest",
        messages,
        parse_amount,
        month=month,
        constraint=answer_constraint(prompts.config.capacity, unit),
        follow_up=lambda text: continued(messages, text, prompts.render("harvest_retry")),
    )
    if reply.value is None:
        asker.fallback("harvest", NO_REQUEST, "no 'Answer: N' in the reply; the env applies its default", month)
    return reply.value
