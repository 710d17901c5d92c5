"""The episode-level evaluation: each adapter in the real simulation on held-out seeds.

Episodes run through the runner with ``llm.adapter`` set per method; all episodes of one
method run at once through the shared pool, so the engine batches them (the transformers
backend batches per adapter, so one method at a time keeps its batches full). The
metrics table is ``govsim.report``'s, grouped by method. That an adapter really was
applied shows in the ``adapter`` the run logs record on every ``llm_call`` (and in the
fixed-input evaluation's greedy replies, ``fixed.paired``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from govsim import report, runner
from govsim.config import RunConfig
from govsim.runlog import find_runs, read_run


def with_adapter(template: RunConfig, seed: int, adapter: str | None) -> RunConfig:
    return template.model_copy(update={"seed": seed, "llm": template.llm.model_copy(update={"adapter": adapter})})


def jobs_for(template: RunConfig, seeds: Sequence[int], adapter: str | None, root: Path) -> list[tuple[RunConfig, Path]]:
    return [(with_adapter(template, s, adapter), root / f"seed{s}") for s in seeds]


class EpisodesFailed(Exception):
    """Episodes stopped for failing LLM calls: their stage is not done (running again resumes them)."""


async def play(pool: Any, jobs: list[tuple[RunConfig, Path]], progress: bool = True) -> list[runner.EpisodeResult]:
    """Run (or resume, or skip if finished) the episodes, all at once; raise ``EpisodesFailed``
    if any was stopped for failing LLM calls (an episode whose model stopped answering is a
    failed episode, not a result)."""
    bar, on_month = runner.progress_bar(sum(cfg.months for cfg, _ in jobs), enabled=progress)
    with bar:
        results = await runner.run_episodes(jobs, resume=True, pool=pool, on_month=on_month)
    failed = [r for r in results if r.summary.get("valid") is False]
    if failed:
        raise EpisodesFailed(
            f"{len(failed)} of {len(results)} episodes stopped ({failed[0].directory}: {failed[0].summary['invalid_reason']}); "
            "run the same command again to resume them"
        )
    return results


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The frames one under the other, every column kept. All-NA columns (e.g. None in every
    run of a method still playing) are left out of pandas' concat, whose dtype rule for them
    is changing, and put back after it."""
    if not frames:
        return pd.DataFrame()
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    return pd.concat([f.dropna(axis=1, how="all") for f in frames], ignore_index=True).reindex(columns=columns)


def runs_of(roots: Mapping[str, Path]) -> pd.DataFrame:
    """One row per episode under each method's root (``govsim.report.runs_frame``), with ``method``."""
    frames = [report.runs_frame([root]).assign(method=method) for method, root in roots.items()]
    return concat([f for f in frames if len(f)])


def metrics_table(roots: Mapping[str, Path]) -> pd.DataFrame:
    """One row per method: runs and mean/CI of the paper's metrics (via govsim.report)."""
    runs = runs_of(roots)
    if runs.empty:
        return pd.DataFrame(columns=["method", "runs"])
    return report.summary_table(runs, by=["method"])


def logged_adapters(root: Path) -> dict[str, int]:
    """How many ``llm_call`` events of the runs under root name each adapter ("none" for the base)."""
    counts: Counter[str] = Counter()
    for path in find_runs(root):
        for event in read_run(path).of_type("llm_call"):
            counts[str(event.get("adapter") or "none")] += 1
    return dict(sorted(counts.items()))
