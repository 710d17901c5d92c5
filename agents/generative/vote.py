"""A vote at an election: one candidate's name.

One user turn (``vote``: the system text, the place and date, the key memories, the
candidates' agendas as the env states them, the output format), then an open assistant
turn "Vote: " continued under a choice among the candidates. Where no candidate can be
read (a backend without constraints, after the retries), the agent sends no vote: the env
records it as an invalid vote, and the agent reports a ``fallback`` with used "no vote".
"""

from __future__ import annotations

from typing import Any

from agents.generative.asking import Asker, chat, prefilled
from agents.generative.converse import MAX_CHOICE_TOKENS, name_in
from agents.generative.templates import Prompts
from govsim.institutions.election import VOTE, listing
from govsim.llm.base import Constraint

VOTE_PREFIX = "Vote: "
NO_VOTE = "no vote"


async def decide(
    asker: Asker, prompts: Prompts, *, system: str, date: str, memories: str, term: int, agendas: str,
    candidates: list[str], month: int,
) -> str | None:
    """The candidate voted for, or None after a reported fallback (then send no vote)."""
    messages = chat(
        system,
        prompts.render("vote", name=prompts.name, date=date, memories=memories, term=term, agendas=agendas,
                       candidates=listing(candidates)),
    )
    chosen = await asker.ask(
        "vote", prefilled(messages, VOTE_PREFIX), lambda text: name_in(text, candidates), month=month,
        constraint=Constraint(choice=tuple(candidates)), constrain_first=True, max_tokens=MAX_CHOICE_TOKENS,
    )
    if chosen.value is None:
        asker.fallback("vote", NO_VOTE, "no candidate named in the reply; the env records an invalid vote", month)
    return chosen.value


async def act(agent: Any, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The VOTE step of a generative agent (``agents.generative.agent``)."""
    month, present = int(info["month"]), list(info["present"])
    candidates = [a["candidate"] for a in info["agendas"]]
    if not candidates:
        return {}  # nobody stands: the env records the missing vote
    recalled = await agent.recall_for_harvest()
    name = await decide(
        agent.asker, agent.prompts, system=agent.prompts.system(present), date=info["date"],
        memories=agent.prompts.memories(recalled), term=agent.ctx.config.election.term,
        agendas=str(observation["agendas"]), candidates=candidates, month=month,
    )
    return {} if name is None else {VOTE: name}
