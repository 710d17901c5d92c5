"""One turn at the town meeting, asked the way the reference asks it.

The speaker recalls what comes to mind (focus ``talk``, see ``mind``), then one user
turn (``converse``: the system text, the place and date, the key memories, who is in
the group chat, the conversation so far as dash lines with what others said
quoted, the task and the output format), then an open assistant turn that starts with
"Response: ". The model writes its utterance until "Conversation conclusion by me:";
the reply is continued with that line and a choice of yes/no; if the talk goes on, it
is continued with "Next speaker: " and a choice among ``names`` (everyone the speaker
may name: the others present, and himself, as in the reference, unless
``improvements.no_self_naming``).

Where a choice cannot be read (a backend without constraints, after the retries), the
reference's defaults apply and are reported as ``fallback`` events: the talk is over
("yes"), and the next speaker is the first name offered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agents.generative.asking import chat, prefilled
from govsim.llm.base import Constraint
from govsim.phases import END_CONVERSATION, NEXT_SPEAKER, UTTERANCE, Purpose
from govsim.wording import listing

if TYPE_CHECKING:
    from agents.generative.context import Context

RESPONSE = "Response: "
CONCLUSION = "Conversation conclusion by me: "
NEXT_SPEAKER_PREFIX = "Next speaker: "
YES_NO = ("yes", "no")
MAX_CHOICE_TOKENS = 8  # a yes/no or a name
MAX_UTTERANCE_CHARS = 1000


def name_in(text: str, names: Sequence[str]) -> str | None:
    """The first of ``names`` that appears in text as a word (earliest position wins)."""
    hits = [(m.start(), n) for n in names for m in [re.search(rf"\b{re.escape(n)}\b", text, re.I)] if m]
    return min(hits)[1] if hits else None


def parse_yes_no(text: str) -> bool | None:
    match = re.match(r"\W*(yes|no)\b", text, re.I)
    return match.group(1).lower() == "yes" if match else None


def clean_utterance(text: str) -> str:
    """The utterance as the reference keeps it: stripped, surrounding quotes removed, cut."""
    said = text.strip()
    if len(said) > 1 and said[0] == said[-1] == '"':
        said = said[1:-1]
    return said[:MAX_UTTERANCE_CHARS]


async def decide(ctx: Context) -> dict[str, str | int]:
    """The speaker's turn; an unreadable choice takes the reference's default, reported."""
    recalled = await ctx.recall("talk")
    asker, month, present = ctx.asker, ctx.month, ctx.moment.present
    names = ctx.moment.info.get("names", [p for p in present if p != ctx.name])  # whom it may name next
    messages = chat(
        ctx.system,
        ctx.prompts.render(
            "converse", name=ctx.name, date=ctx.moment.date, present=listing(present), memories=recalled.text,
            conversation=ctx.prompts.conversation(ctx.moment.talk),
        ),
    )
    said = await asker.ask(
        Purpose.CONVERSE, prefilled(messages, RESPONSE), lambda text: text, month=month, stop=(CONCLUSION.strip(),)
    )
    utterance = clean_utterance(said.text)
    so_far = f"{RESPONSE}{said.text.rstrip()}\n{CONCLUSION}"
    over = await asker.ask(
        Purpose.CONVERSE_END, prefilled(messages, so_far), parse_yes_no, month=month,
        constraint=Constraint(choice=YES_NO), constrain_first=True, max_tokens=MAX_CHOICE_TOKENS,
    )
    if over.value is None:
        asker.fallback(Purpose.CONVERSE_END, True, "no yes/no after the conclusion line; the talk ends", month)
    if over.value is not False or not names:
        return {UTTERANCE: utterance, END_CONVERSATION: 1}
    chosen = await asker.ask(
        Purpose.CONVERSE_NEXT, prefilled(messages, f"{so_far}no\n{NEXT_SPEAKER_PREFIX}"), lambda text: name_in(text, names),
        month=month, constraint=Constraint(choice=tuple(names)), constrain_first=True, max_tokens=MAX_CHOICE_TOKENS,
    )
    if chosen.value is None:
        asker.fallback(Purpose.CONVERSE_NEXT, names[0], "no name offered in the reply; the first one speaks", month)
    return {UTTERANCE: utterance, END_CONVERSATION: 0, NEXT_SPEAKER: chosen.value or names[0]}
