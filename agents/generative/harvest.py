"""How much to harvest this month, asked the way the reference asks it.

With nothing left to take the agent asks for 0 and asks no model (the reference's way).
Otherwise it recalls what comes to mind (focus ``harvest``, see ``mind``) and asks in
one user turn (``harvest``: the system text, the place and date, the key memories as
dated lines, then the task: an amount from 0 to the current stock, think step by step,
the final answer after "Answer:" with the example "Answer: N <unit>." that holds no
number). The model reasons until one of the reference's answer markers (``MARKERS``);
the reply is then continued after "Answer: " under a digits-only constraint, and the
amount is read from that continuation alone (``harvest_amount``), so nothing the model
quoted or listed on the way can pass for its answer.

Where the reference differs, govsim keeps its own counted behaviour (docs/fidelity.md):
a reasoning that reached the length bound without a marker is still continued after
"Answer: " (as the reference does) but reported as a ``fallback``; the number goes to
the env, which records an ``invalid_action`` when it is out of range (the reference
takes any first integer unchecked); a continuation without a number (a backend that
cannot constrain) is retried, and after the retries the agent makes NO request: the env
records an ``invalid_action`` and applies its default (0), reported as a ``fallback``
with used ``"no request"`` (the reference's silent 0).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agents.generative.asking import chat, prefilled
from govsim.llm.base import Constraint
from govsim.phases import HARVEST, Purpose

if TYPE_CHECKING:
    from agents.generative.context import Context

MARKERS = ("Answer:", "So, the answer is:", "**Answer**:")  # the reference's stops for the reasoning
ANSWER_PREFIX = "Answer: "
LEADING_NUMBER = re.compile(r"\s*(\d+)")
NO_REQUEST = "no request"
AMOUNT_TOKENS = 4  # room for the digits of any amount up to the capacity


def parse_number(text: str) -> int | None:
    """The number a continuation after 'Answer: ' starts with."""
    match = LEADING_NUMBER.match(text)
    return int(match.group(1)) if match else None


def digits_constraint(capacity: int) -> Constraint:
    return Constraint(regex=rf"(0|[1-9][0-9]{{0,{len(str(capacity)) - 1}}})")


async def decide(ctx: Context) -> dict[str, int]:
    """The harvest's action: the amount to ask for, or none after a reported fallback."""
    stock = int(ctx.moment.observation["stock"][0])
    if stock == 0:
        return {HARVEST: 0}  # nothing to take: the reference asks no model either
    recalled = await ctx.recall("harvest")
    asker, prompts, month = ctx.asker, ctx.prompts, ctx.month
    messages = chat(
        ctx.system, prompts.render("harvest", name=ctx.name, date=ctx.moment.date, memories=recalled.text, stock=stock)
    )
    reasoning = await asker.ask(Purpose.HARVEST, messages, lambda text: text, month=month, stop=MARKERS)
    if reasoning.finish == "length":
        asker.fallback(
            Purpose.HARVEST, "continued after 'Answer: '",
            f"no answer marker within {asker.sampling().max_tokens} tokens of reasoning", month,
        )
    opened = prefilled(messages, f"{reasoning.text.rstrip()}\n{ANSWER_PREFIX}")
    answer = await asker.ask(
        Purpose.HARVEST_AMOUNT, opened, parse_number, month=month,
        constraint=digits_constraint(prompts.config.capacity), constrain_first=True, max_tokens=AMOUNT_TOKENS,
    )
    if answer.value is None:
        asker.fallback(Purpose.HARVEST_AMOUNT, NO_REQUEST, "no number after 'Answer: '; the env applies its default", month)
        return {}
    return {HARVEST: answer.value}
