"""A candidate's agenda at an election: one sentence to the voters and the limit it would set.

One user turn (``agenda``: the system text, the place and date, the key memories, the
election, the stock, the output format), then an open assistant turn that starts with
"Agenda: "; the model writes until a blank line or "Limit:" (a small model otherwise runs
on to the token bound echoing the prompt), and the sentence is the reply's first line
that is not empty (the embedded model starts with a line break). A reply with none is a
parse failure and the agenda's sentence is empty, reported as a ``fallback``. The reply
is continued after
"Limit: " under a constraint (a number up to the capacity, or N/A) and the limit is read
from that continuation alone (``summarize.parse_limit``; N/A is no limit). Where no limit
can be read after the retries, the agenda proposes none, reported as a ``fallback``.
"""

from __future__ import annotations

from typing import Any

from agents.generative.asking import Asker, chat, prefilled
from agents.generative.converse import clean_utterance
from agents.generative.summarize import ask_limit
from agents.generative.templates import Prompts
from govsim.institutions.election import AGENDA, AGENDA_LIMIT, listing

AGENDA_PREFIX = "Agenda: "
LIMIT_PREFIX = "Limit: "


async def decide(
    asker: Asker, prompts: Prompts, *, system: str, date: str, memories: str, stock: int, term: int,
    candidates: list[str], month: int,
) -> tuple[int, str]:
    """The limit (NO_LIMIT: none) and the sentence of the agent's agenda."""
    messages = chat(
        system,
        prompts.render("agenda", name=prompts.name, date=date, memories=memories, stock=stock, term=term,
                       candidates=listing(candidates)),
    )
    said = await asker.ask(
        "agenda", prefilled(messages, AGENDA_PREFIX), first_line, month=month, stop=("\n\n", LIMIT_PREFIX.strip())
    )
    if said.value is None:
        asker.fallback("agenda", "", "no sentence after 'Agenda: '; the agenda has none", month)
    sentence = said.value or ""
    limit = await ask_limit(
        asker, "agenda_limit", prefilled(messages, f"{AGENDA_PREFIX}{sentence}\n{LIMIT_PREFIX}"),
        prompts.config.capacity, month, "no number or N/A after 'Limit: '; the agenda proposes no limit",
    )
    return limit, sentence


def first_line(text: str) -> str | None:
    """The reply's first line that is not empty, cleaned as an utterance; None if there is none."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    return clean_utterance(line) or None


async def act(agent: Any, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The AGENDA step of a generative agent (``agents.generative.agent``)."""
    month, present = int(info["month"]), list(info["present"])
    recalled = await agent.recall_for_harvest()
    limit, sentence = await decide(
        agent.asker, agent.prompts, system=agent.prompts.system(present), date=info["date"],
        memories=agent.prompts.memories(recalled), stock=int(observation["stock"][0]),
        term=agent.ctx.config.election.term, candidates=list(info["candidates"]), month=month,
    )
    return {AGENDA_LIMIT: limit, AGENDA: sentence}
