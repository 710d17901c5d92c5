"""A candidate's agenda at an election: one sentence to the voters and the limit it would set.

The candidate recalls what comes to mind (focus ``harvest``, see ``mind``), then one
user turn (``agenda``: the system text, the place and date, the key memories, the
election, the stock, the output format), then an open assistant turn that starts with
"Agenda: "; the model writes until a blank line or "Limit:" (a small model otherwise runs
on to the token bound echoing the prompt), and the sentence is the reply's first line
that is not empty (the embedded model starts with a line break). A reply with none is a
parse failure and the agenda's sentence is empty, reported as a ``fallback``. The reply
is continued after "Limit: " under a constraint (a number up to the capacity, or N/A)
and the limit is read from that continuation alone (``summarize.parse_limit``; N/A is no limit). Where no limit
can be read after the retries, the agenda proposes none, reported as a ``fallback``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.generative.asking import chat, prefilled
from agents.generative.converse import clean_utterance
from agents.generative.summarize import ask_limit
from govsim.institutions.election import AGENDA, AGENDA_LIMIT
from govsim.phases import Purpose
from govsim.wording import listing

if TYPE_CHECKING:
    from agents.generative.context import Context

AGENDA_PREFIX = "Agenda: "
LIMIT_PREFIX = "Limit: "


async def decide(ctx: Context) -> dict[str, int | str]:
    """A candidate's agenda: the limit it would set (NO_LIMIT: none) and its sentence."""
    recalled = await ctx.recall("harvest")
    asker, prompts, month = ctx.asker, ctx.prompts, ctx.month
    messages = chat(
        ctx.system,
        prompts.render("agenda", name=ctx.name, date=ctx.moment.date, memories=recalled.text,
                       stock=int(ctx.moment.observation["stock"][0]), term=prompts.config.election.term,
                       candidates=listing(list(ctx.moment.info["candidates"]))),
    )
    said = await asker.ask(
        Purpose.AGENDA, prefilled(messages, AGENDA_PREFIX), first_line, month=month, stop=("\n\n", LIMIT_PREFIX.strip())
    )
    if said.value is None:
        asker.fallback(Purpose.AGENDA, "", "no sentence after 'Agenda: '; the agenda has none", month)
    sentence = said.value or ""
    limit = await ask_limit(
        asker, Purpose.AGENDA_LIMIT, prefilled(messages, f"{AGENDA_PREFIX}{sentence}\n{LIMIT_PREFIX}"),
        prompts.config.capacity, month, "no number or N/A after 'Limit: '; the agenda proposes no limit",
    )
    return {AGENDA_LIMIT: limit, AGENDA: sentence}


def first_line(text: str) -> str | None:
    """The reply's first line that is not empty, cleaned as an utterance; None if there is none."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    return clean_utterance(line) or None
