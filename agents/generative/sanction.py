"""Whom to fine after the harvest report: one yes/no decision per agent it may fine.

Asked only when the env offers someone to fine (``info["sanctionable"]``: others seen over
the limit); otherwise the agent fines nobody without a model call. It recalls what comes
to mind (focus ``harvest``, see ``mind``), then for each of them one user turn
(``sanction``: the system text, the place and date, the key memories, the month's public
report, the limit, that agent's catch, the cost and the fine), then an open assistant
turn "Fine: " continued under a yes/no choice. Where no yes/no can be read after the
retries, that agent is not fined, reported as a ``fallback``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.generative.asking import chat, prefilled
from agents.generative.converse import MAX_CHOICE_TOKENS, YES_NO, parse_yes_no
from govsim.institutions.sanctions import SANCTION, amount_text
from govsim.llm.base import Constraint
from govsim.phases import Purpose

if TYPE_CHECKING:
    from agents.generative.context import Context

FINE_PREFIX = "Fine: "


async def decide(ctx: Context) -> dict[str, list[str]]:
    """Whom to fine, among ``info["sanction_catches"]`` (name: what it caught), in their order."""
    info = ctx.moment.info
    catches = dict(info["sanction_catches"])
    if not catches:
        return {SANCTION: []}  # nobody it may fine: no question to ask
    recalled = await ctx.recall("harvest")
    fined = []
    for target, caught in catches.items():
        messages = chat(
            ctx.system,
            ctx.prompts.render(
                "sanction", name=ctx.name, date=ctx.moment.date, memories=recalled.text,
                report=str(ctx.moment.observation["report"]), limit=info["sanction_limit"], target=target,
                caught=caught, cost=amount_text(info["sanction_cost"]), fine=amount_text(info["sanction_fine"]),
            ),
        )
        answer = await ctx.asker.ask(
            Purpose.SANCTION, prefilled(messages, FINE_PREFIX), parse_yes_no, month=ctx.month,
            constraint=Constraint(choice=YES_NO), constrain_first=True, max_tokens=MAX_CHOICE_TOKENS,
        )
        if answer.value is None:
            ctx.asker.fallback(Purpose.SANCTION, False, f"no yes/no on fining {target}; {target} is not fined", ctx.month)
        elif answer.value:
            fined.append(target)
    return {SANCTION: fined}
