"""Step 6: each adapter in the real simulation on held-out seeds, against the base model.

Episodes run through the runner (``llm.adapter`` set per method, one shared pool, so all
methods' episodes batch together); the metrics table is ``govsim.report``'s, grouped by
method. Two checks that an adapter really was applied: the ``adapter`` the run logs record
on every ``llm_call``, and whether replies at temperature 0 differ with and without it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from govsim import report, runner
from govsim.config import RunConfig
from govsim.llm.base import LLM, Request, Sampling
from govsim.rerest.decisions import Decision, from_runs
from govsim.rerest.infer import complete_all
from govsim.rerest.score import score
from govsim.rerest.texts import Texts
from govsim.runlog import find_runs, read_run

TABLE_METRICS = ("survival_rate", "survival_time", "gain", "efficiency")


def with_adapter(template: RunConfig, seed: int, adapter: str | None) -> RunConfig:
    return template.model_copy(update={"seed": seed, "llm": template.llm.model_copy(update={"adapter": adapter})})


def jobs_for(template: RunConfig, seeds: Sequence[int], adapter: str | None, root: Path) -> list[tuple[RunConfig, Path]]:
    return [(with_adapter(template, s, adapter), root / f"seed{s}") for s in seeds]


async def play(pool: Any, jobs: list[tuple[RunConfig, Path]], progress: bool = True) -> None:
    """Run (or resume, or skip if finished) the episodes, all at once."""
    bar, on_month = runner.progress_bar(sum(cfg.months for cfg, _ in jobs), enabled=progress)
    with bar:
        await runner.run_episodes(jobs, resume=True, pool=pool, on_month=on_month)


def metrics_table(roots: Mapping[str, Path]) -> pd.DataFrame:
    """One row per method: runs and mean/CI of the paper's metrics (via govsim.report)."""
    frames = []
    for method, root in roots.items():
        frame = report.runs_frame([root])
        if not frame.empty:
            frames.append(frame.assign(method=method))
    if not frames:
        return pd.DataFrame(columns=["method", "runs"])
    return report.summary_table(pd.concat(frames, ignore_index=True), by=["method"])


def reply_pass_rate(root: Path, texts: Texts) -> float | None:
    """Share of the episodes' first harvest replies that pass the Re-ReST check."""
    decisions = from_runs([root])
    if not decisions:
        return None
    return sum(score(d.state, d.reply, texts).passed for d in decisions) / len(decisions)


def logged_adapters(root: Path) -> dict[str, int]:
    """How many ``llm_call`` events of the runs under root name each adapter ("none" for the base)."""
    counts: Counter[str] = Counter()
    for path in find_runs(root):
        for event in read_run(path).of_type("llm_call"):
            counts[str(event.get("adapter") or "none")] += 1
    return dict(sorted(counts.items()))


async def adapter_effect(
    llm: LLM, decisions: Sequence[Decision], adapter: str, n: int, max_tokens: int, progress: bool = True
) -> dict[str, Any]:
    """Greedy replies to the first n decision inputs with and without the adapter: how many differ."""
    chosen = list(decisions)[:n]
    greedy = Sampling(temperature=0.0, max_tokens=max_tokens)

    def requests(with_: str | None) -> list[Request]:
        return [
            Request(tuple(d.messages), greedy, adapter=with_, tags=(("purpose", "rerest_adapter_check"), ("decision", d.id)))
            for d in chosen
        ]

    replies = await complete_all(llm, requests(None) + requests(adapter), "adapter check", progress)
    base, tuned = replies[: len(chosen)], replies[len(chosen):]
    return {"compared": len(chosen), "differ": sum(a.text != b.text for a, b in zip(base, tuned))}
