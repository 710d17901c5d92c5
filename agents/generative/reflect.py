"""Reflection at home: turning the memories that come to mind into high-level insights.

As in the reference (simulation/persona/cognition/reflect.py, fishing persona_v3
reflect_prompts.py), the agent (``decide``, the REFLECTION step) recalls the top 10
memories for the focal point ``focus_reflect`` ("harvesting", focus ``home`` in
``mind``) and asks for insights on them, as many as the model lists, at most one per
memory shown; with nothing recalled it asks nothing. It stores each insight as a
thought, rated for importance, and states them all as its reflection.

Prompt: the system message, then ``reflect`` (fields ``name``, ``memories``: numbered from
1). The reply is read line by line: numbered lines ('2. insight (because of 1, 5, 3)')
are the insights; a reply with no numbered line may still give them as lines ending in
'(because of ...)'. The numbers in '(because of ...)' are mapped back to the memories they
cite; an insight without them cites nothing. Retries follow up with ``reflect_retry``
under a regex constraint for such lines. Fallback when no attempt gives one: no insights
this month, reported.

After the talk (``after_talk``; reference reflect_on_convesation; paper Listing 11) every
agent present writes two thoughts about the conversation, each one sentence: ``think_plan`` (what to
remember for its planning) and ``think_memorize`` (what it found interesting); fields
``name``, ``conversation``. As in the reference the reply stops at its first period (a
stop string where the backend takes one), which is not kept.
Retries repeat the request under a regex constraint for one sentence. Fallback when no
attempt gives one: no such thought, reported.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agents.generative.asking import chat, continued
from agents.generative.memory import Memory, Note
from govsim.llm.base import Constraint, Message
from govsim.phases import NO_LIMIT, REFLECTION, Purpose

if TYPE_CHECKING:
    from agents.generative.context import Context
    from agents.generative.mind import Recalled

NUMBERED = re.compile(r"^\W*\d+\s*[.)]\s*(.*\S)\s*$", re.M)
CITED = re.compile(r"^\W*(.*\S)\s*$", re.M)
CITATION = re.compile(r"\(\s*because of\s*([^)]*)\)?", re.I)
MAX_INSIGHT_CHARS = 300
CONSTRAINED_CHARS = 200  # an insight a retry's regex allows, so a full list fits max_tokens
THOUGHTS = (Purpose.THINK_PLAN, Purpose.THINK_MEMORIZE)  # each also names its template
SENTENCE = Constraint(regex=rf"[^\n.]{{5,{CONSTRAINED_CHARS}}}\.")
MAX_SENTENCE_TOKENS = 100


@dataclass
class Insight:
    text: str
    evidence: list[int] = field(default_factory=list)  # ids of the memories it cites


def _insight(line: str, cited: Sequence[Memory]) -> Insight | None:
    citation = CITATION.search(line)
    text = (line[: citation.start()] if citation else line).strip(" *-:\t")
    if not text:
        return None
    numbers = [int(n) for n in re.findall(r"\d+", citation.group(1))] if citation else []
    evidence = sorted({cited[n - 1].id for n in numbers if 1 <= n <= len(cited)})
    return Insight(text[:MAX_INSIGHT_CHARS], evidence)


def parse_insights(text: str, cited: Sequence[Memory], most: int) -> list[Insight] | None:
    """Up to ``most`` insights; citations outside the numbered list are dropped."""
    lines = NUMBERED.findall(text) or [line for line in CITED.findall(text) if CITATION.search(line)]
    insights = [i for i in (_insight(line, cited) for line in lines) if i is not None]
    return insights[:most] or None


def insights_constraint(most: int) -> Constraint:
    line = rf"[0-9]{{1,2}}\. [^\n()]{{5,{CONSTRAINED_CHARS}}} \(because of [0-9]{{1,2}}(, [0-9]{{1,2}}){{0,9}}\)"
    return Constraint(regex=rf"{line}(\n{line}){{0,{max(0, most - 1)}}}")


async def decide(ctx: Context) -> dict[str, str]:
    """Reflection at home: the insights on what comes to mind, stored as thoughts and stated."""
    found = await insights(ctx, await ctx.recall("home"))
    await ctx.remember([Note("thought", i.text, cites=tuple(i.evidence), source="reflection") for i in found])
    return {REFLECTION: "\n".join(i.text for i in found)}


async def insights(ctx: Context, recalled: Recalled) -> list[Insight]:
    """The insights on ``recalled`` (at most one per memory, and at most ``params.insights``)."""
    memories, cap = recalled.memories, ctx.params.insights
    most = len(memories) if cap is None else min(cap, len(memories))
    if most <= 0:
        return []
    prompts = ctx.prompts
    messages: list[Message] = chat(ctx.system, prompts.render("reflect", name=ctx.name, memories=recalled.text))
    reply = await ctx.asker.ask(
        Purpose.REFLECT,
        messages,
        lambda text: parse_insights(text, memories, most),
        month=ctx.month,
        constraint=insights_constraint(most),
        follow_up=lambda text: continued(messages, text, prompts.render("reflect_retry")),
    )
    if reply.value is None:
        ctx.asker.fallback(Purpose.REFLECT, [], "no insight in the reply; none this month", ctx.month)
        return []
    return reply.value


def first_sentence(text: str) -> str | None:
    """The reply up to its first period (not kept), or None when nothing comes before it."""
    head = " ".join(text.partition(".")[0].split()).strip(" *\"'")
    return head[:MAX_INSIGHT_CHARS] or None


async def after_talk(ctx: Context) -> list[Note]:
    """Once the meeting is over, what every agent present keeps of it (reference converse_group's end).

    In the reference's order: the summary (a chat, rated), a planning and a memorize
    thought (each rated), and the agreed limit, if any (a thought, always relevant,
    standing for 63 days: a new limit does not replace an older one still standing).
    The summary and the limit carry the talk's date; the two thoughts the agent's own
    clock's (the harvest day's unless it led the talk, see ``agent``).
    """
    moment = ctx.moment
    times = moment.times
    mine = times.talk if moment.leads(ctx.name) else times.harvest
    observation = moment.observation
    conversation = "\n".join(p for p in (str(observation["report"]), str(observation["conversation"])) if p)
    notes: list[Note] = []
    if moment.info["summary"]:
        summary = ctx.prompts.render("memory_summary", summary=moment.info["summary"])
        notes.append(Note("chat", summary, created=times.talk, source="summary"))

    async def think(key: str) -> str | None:
        reply = await ctx.asker.ask(
            key,
            chat(ctx.system, ctx.prompts.render(key, name=ctx.name, conversation=conversation)),
            first_sentence,
            month=ctx.month,
            constraint=SENTENCE,
            max_tokens=MAX_SENTENCE_TOKENS,
            stop=(".",),
        )
        if reply.value is None:
            ctx.asker.fallback(key, None, "no sentence in the reply; no such thought this month", ctx.month)
        return reply.value

    sentences = await asyncio.gather(*(think(key) for key in THOUGHTS))
    for key, text in zip(THOUGHTS, sentences):
        if text is not None:
            notes.append(Note("thought", text, created=mine, source=key.removeprefix("think_")))
    limit = int(observation["agreed_limit"][0])
    if limit != NO_LIMIT:
        text = ctx.prompts.scenario.say("agreed_limit", limit=limit)
        notes.append(Note("thought", text, always_relevant=True, created=times.talk, source="limit"))
    return notes
