"""Whom to fine after the harvest report: one yes/no decision per agent it may fine.

Asked only when the env offers someone to fine (``info["sanctionable"]``: others seen over
the limit); otherwise the agent fines nobody without a model call. For each of them, one
user turn (``sanction``: the system text, the place and date, the key memories, the
month's public report, the limit, that agent's catch, the cost and the fine), then an open
assistant turn "Fine: " continued under a yes/no choice. Where no yes/no can be read
after the retries, that agent is not fined, reported as a ``fallback``.
"""

from __future__ import annotations

from typing import Any

from agents.generative.asking import Asker, chat, prefilled
from agents.generative.converse import MAX_CHOICE_TOKENS, YES_NO, parse_yes_no
from agents.generative.templates import Prompts
from govsim.institutions.sanctions import SANCTION, amount_text
from govsim.llm.base import Constraint

FINE_PREFIX = "Fine: "


async def decide(
    asker: Asker, prompts: Prompts, *, system: str, date: str, memories: str, report: str, limit: int,
    catches: dict[str, int], cost: float, fine: float, month: int,
) -> list[str]:
    """The agents to fine, among ``catches`` (name: what it caught), in their order."""
    fined = []
    for target, caught in catches.items():
        messages = chat(
            system,
            prompts.render("sanction", name=prompts.name, date=date, memories=memories, report=report, limit=limit,
                           target=target, caught=caught, cost=amount_text(cost), fine=amount_text(fine)),
        )
        answer = await asker.ask(
            "sanction", prefilled(messages, FINE_PREFIX), parse_yes_no, month=month,
            constraint=Constraint(choice=YES_NO), constrain_first=True, max_tokens=MAX_CHOICE_TOKENS,
        )
        if answer.value is None:
            asker.fallback("sanction", False, f"no yes/no on fining {target}; {target} is not fined", month)
        elif answer.value:
            fined.append(target)
    return fined


async def act(agent: Any, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The SANCTION step of a generative agent (``agents.generative.agent``)."""
    catches = dict(info["sanction_catches"])
    if not catches:
        return {SANCTION: []}  # nobody it may fine: no question to ask
    month, present = int(info["month"]), list(info["present"])
    recalled = await agent.recall_for_harvest()
    fined = await decide(
        agent.asker, agent.prompts, system=agent.prompts.system(present), date=info["date"],
        memories=agent.prompts.memories(recalled), report=str(observation["report"]), limit=info["sanction_limit"],
        catches=catches, cost=info["sanction_cost"], fine=info["sanction_fine"], month=month,
    )
    return {SANCTION: fined}
