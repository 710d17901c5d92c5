"""Step 1-2 of an iteration: k samples per decision input from the agent model, scored.

The decision inputs come from the run logs of episodes played by the same policy (see
``decisions``); the k samples of every input are requested at once, so the backend
batches them all.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Sequence

from govsim.llm.base import LLM, Request, Sampling
from govsim.rerest.config import SamplingSpec
from govsim.rerest.decisions import Decision
from govsim.rerest.infer import complete_all
from govsim.rerest.score import score
from govsim.rerest.texts import Texts


def sample_requests(decisions: Sequence[Decision], spec: SamplingSpec, adapter: str | None) -> list[Request]:
    sampling = Sampling(temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens)
    return [
        Request(
            messages=tuple(d.messages), sampling=sampling, adapter=adapter,
            tags=(("purpose", "rerest_sample"), ("decision", d.id), ("k", j)),
        )
        for d in decisions
        for j in range(spec.k)
    ]


def scored_row(decision: Decision, text: str, texts: Texts, **extra: Any) -> dict[str, Any]:
    """One scored reply with the decision's identity and the episode's outcome beside it."""
    result = score(decision.state, text, texts)
    return {"decision": decision.id, **extra, "text": text, **asdict(result), "outcome": decision.outcome}


async def draw_samples(
    llm: LLM, decisions: Sequence[Decision], spec: SamplingSpec, adapter: str | None, texts: Texts,
    progress: bool = True,
) -> list[dict[str, Any]]:
    requests = sample_requests(decisions, spec, adapter)
    completions = await complete_all(llm, requests, "samples", progress)
    by_id = {d.id: d for d in decisions}
    return [
        scored_row(by_id[r.tag_dict["decision"]], c.text, texts, k=r.tag_dict["k"], adapter=adapter)
        for r, c in zip(requests, completions)
    ]


def pass_rate(rows: Sequence[dict[str, Any]]) -> float | None:
    return sum(bool(r["passed"]) for r in rows) / len(rows) if rows else None
