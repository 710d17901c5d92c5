"""A vote at an election: one candidate's name.

The voter recalls what comes to mind (focus ``harvest``, see ``mind``), then one user
turn (``vote``: the system text, the place and date, the key memories, the
candidates' agendas as the env states them, the output format), then an open assistant
turn "Vote: " continued under a choice among the candidates. Where no candidate can be
read (a backend without constraints, after the retries), the agent sends no vote: the env
records it as an invalid vote, and the agent reports a ``fallback`` with used "no vote".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.generative.asking import chat, prefilled
from agents.generative.converse import MAX_CHOICE_TOKENS, name_in
from govsim.institutions.election import VOTE
from govsim.llm.base import Constraint
from govsim.phases import Purpose
from govsim.wording import listing

if TYPE_CHECKING:
    from agents.generative.context import Context

VOTE_PREFIX = "Vote: "
NO_VOTE = "no vote"


async def decide(ctx: Context) -> dict[str, str]:
    """The vote: a candidate's name, or none after a reported fallback (or when nobody stands)."""
    candidates = [a["candidate"] for a in ctx.moment.info["agendas"]]
    if not candidates:
        return {}  # nobody stands: the env records the missing vote
    recalled = await ctx.recall("harvest")
    messages = chat(
        ctx.system,
        ctx.prompts.render("vote", name=ctx.name, date=ctx.moment.date, memories=recalled.text,
                           term=ctx.prompts.config.election.term, agendas=str(ctx.moment.observation["agendas"]),
                           candidates=listing(candidates)),
    )
    chosen = await ctx.asker.ask(
        Purpose.VOTE, prefilled(messages, VOTE_PREFIX), lambda text: name_in(text, candidates), month=ctx.month,
        constraint=Constraint(choice=tuple(candidates)), constrain_first=True, max_tokens=MAX_CHOICE_TOKENS,
    )
    if chosen.value is None:
        ctx.asker.fallback(Purpose.VOTE, NO_VOTE, "no candidate named in the reply; the env records an invalid vote", ctx.month)
        return {}
    return {VOTE: chosen.value}
