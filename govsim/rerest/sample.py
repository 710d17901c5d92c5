"""Step 1-2 of an iteration: k samples per decision input from the agent model, scored.

The decision inputs come from the run logs of episodes played by the same policy (see
``decisions``). Each sample is drawn the agent's way (``reply.ask``: reasoning to the
answer marker, the number continued under the digits constraint) and scored as the
agent's first reply (``score`` with the agent's ``Reader``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from agents.generative.harvest import digits_constraint
from govsim.llm.base import LLM, Sampling
from govsim.rerest.config import SamplingSpec
from govsim.rerest.decisions import Decision
from govsim.rerest.reply import Item, Reader, ask
from govsim.rerest.score import score
from govsim.rerest.texts import Texts


def sampling_of(spec: SamplingSpec, budget: int, temperature: float | None = None) -> Sampling:
    """The reasoning's sampling: the spec's, within the agent's budget unless it says otherwise."""
    return Sampling(
        temperature=spec.temperature if temperature is None else temperature, top_p=spec.top_p,
        max_tokens=spec.max_tokens or budget,
    )


def scored_row(decision: Decision, text: str, texts: Texts, reader: Reader, **extra: Any) -> dict[str, Any]:
    """One scored reply with the decision's identity and the episode's outcome beside it."""
    result = score(decision.state, text, texts, reader)
    return {"decision": decision.id, **extra, "text": text, **asdict(result), "outcome": decision.outcome}


async def draw_samples(
    llm: LLM, decisions: Sequence[Decision], spec: SamplingSpec, adapter: str | None, texts: Texts,
    reader: Reader, budget: int, progress: bool = True,
) -> list[dict[str, Any]]:
    """k scored samples per decision, in decision order."""
    items = [
        Item(d.messages, digits_constraint(d.state.capacity), (("purpose", "rerest_sample"), ("decision", d.id), ("k", j)))
        for d in decisions
        for j in range(spec.k)
    ]
    replies = await ask(llm, items, sampling_of(spec, budget), adapter, "samples", progress)
    by_id = {d.id: d for d in decisions}
    return [
        scored_row(by_id[dict(i.tags)["decision"]], r.text, texts, reader, k=dict(i.tags)["k"], adapter=adapter)
        for i, r in zip(items, replies)
    ]


def pass_rate(rows: Sequence[dict[str, Any]]) -> float | None:
    return sum(bool(r["passed"]) for r in rows) / len(rows) if rows else None


def kinds(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many rows of each check outcome (passed, unparsed, over_budget, zero, shrink, ...)."""
    return dict(sorted(Counter(r["kind"] for r in rows).items()))
