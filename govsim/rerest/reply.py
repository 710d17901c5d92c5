"""A harvest reply as the generative agent gives it and reads it (agents/generative/harvest.py).

Asking (``ask``): the reasoning runs until one of the reference's answer markers (stop
strings), then the reply is continued after 'Answer: ' under a constraint (the agent's
digits-only one for samples and evaluation replies; see ``reflect`` for corrections)
when the backend can enforce one. The reply is the reasoning, a new line, 'Answer: '
and the number: what the agent's own context holds afterwards, and so the form every
sample, correction and evaluation reply takes here. All requests of a step go to the
backend at once (all reasoning, then all answers), so it batches them.

Reading (``Reader``): what the agent would make of a whole reply, as if it were its first
reply: its reasoning call stops at the FIRST answer marker, which must be complete within
the agent's reply budget (``run.llm.max_tokens``, counted with the agent model's
tokenizer); the amount is the number right after it. A reply without a marker or a
number is ``unparsed``; one whose marker ends after the budget is ``over_budget`` (the
agent would have been cut off before it and answered by fallback).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.generative.asking import prefilled
from agents.generative.harvest import AMOUNT_TOKENS, ANSWER_PREFIX, MARKERS, parse_number
from govsim.llm.base import LLM, Constraint, LLMError, Message, Request, Sampling
from govsim.rerest.infer import complete_all

Tags = tuple[tuple[str, Any], ...]
UNPARSED, OVER_BUDGET = "unparsed", "over_budget"
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


@dataclass(frozen=True)
class Asked:
    text: str  # the whole reply: reasoning, then 'Answer: ' and the continuation
    trimmed: bool = False  # the reasoning reached max_tokens and was cut back to its last full sentence


@dataclass(frozen=True)
class Item:
    """One chat to answer: its messages, the constraint of the number after 'Answer: '
    (dropped where the backend has none), request tags."""

    messages: Sequence[Message]
    answer: Constraint
    tags: Tags


def join(reasoning: str, answer: str) -> str:
    """The reply in the agent's form: the reasoning, a new line, 'Answer: ' and the answer."""
    return f"{reasoning.rstrip()}\n{ANSWER_PREFIX}{answer.strip()}".lstrip("\n")


def last_sentences(text: str) -> str:
    """``text`` up to its last full sentence ('' if it has none)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]] if ends else ""


async def ask(
    llm: LLM, items: Sequence[Item], sampling: Sampling, adapter: str | None, desc: str,
    progress: bool = True, trim: bool = False,
) -> list[Asked]:
    """Every item answered the agent's way. ``trim``: a reasoning cut at max_tokens keeps
    only its full sentences (the reflector's short corrections)."""
    reasoning_sampling = dataclasses.replace(sampling, stop=MARKERS)
    first = await complete_all(
        llm,
        [Request(tuple(i.messages), reasoning_sampling, adapter=adapter, tags=(*i.tags, ("part", "reasoning"))) for i in items],
        desc, progress,
    )
    reasonings, trims = [], []
    for completion in first:
        trimmed = trim and completion.finish_reason == "length"
        reasonings.append((last_sentences(completion.text) if trimmed else completion.text).rstrip())
        trims.append(trimmed)
    answer_sampling = dataclasses.replace(sampling, max_tokens=AMOUNT_TOKENS, stop=())
    answers = await complete_all(
        llm,
        [
            Request(
                tuple(prefilled(i.messages, f"{r}\n{ANSWER_PREFIX}")), answer_sampling,
                constraint=i.answer if llm.supports_constraints else None,
                adapter=adapter, tags=(*i.tags, ("part", "answer")),
            )
            for i, r in zip(items, reasonings)
        ],
        f"{desc} (answers)", progress,
    )
    return [Asked(join(r, a.text), t) for r, a, t in zip(reasonings, answers, trims)]


@dataclass(frozen=True)
class Reading:
    amount: int | None  # the number after the first marker (also when over budget)
    problem: str | None  # None, UNPARSED or OVER_BUDGET


def first_marker(text: str) -> tuple[int, str] | None:
    """Where the first answer marker starts and which it is (where the agent's reasoning stops)."""
    hits = [(text.find(m), m) for m in MARKERS if m in text]
    return min(hits) if hits else None


def whitespace_tokens(text: str) -> int:
    """The fake backend's token count."""
    return len(text.split())


class Reader:
    """The agent's reading of a whole reply (see the module docstring)."""

    def __init__(self, budget: int | None = None, count: Callable[[str], int] = whitespace_tokens) -> None:
        self.budget = budget
        self.count = count

    def read(self, text: str) -> Reading:
        found = first_marker(text)
        if found is None:
            return Reading(None, UNPARSED)
        start, marker = found
        end = start + len(marker)
        amount = parse_number(text[end:])
        if self.budget is not None and self.count(text[:end]) > self.budget:
            return Reading(amount, OVER_BUDGET)
        return Reading(amount, None if amount is not None else UNPARSED)


def token_counter(backend: str, model: str) -> Callable[[str], int]:
    """How the agent model counts tokens: its Hugging Face tokenizer (loaded on first use),
    whitespace for the fake backend."""
    if backend == "fake":
        return whitespace_tokens
    loaded: list[Any] = []

    def count(text: str) -> int:
        if not loaded:
            from transformers import AutoTokenizer

            from govsim.llm.embedded import resolve_model

            try:
                loaded.append(AutoTokenizer.from_pretrained(resolve_model(model)))
            except OSError as exc:
                raise LLMError(f"Re-ReST: cannot load the tokenizer of {model!r} to count reply tokens: {exc}") from None
        return len(loaded[0](text, add_special_tokens=False)["input_ids"])

    return count
