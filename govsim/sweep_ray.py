"""The Ray executor of sweeps: each batch of cells is one Ray task with its own engine.

A task runs its cells with ``runner.run_episodes`` in the worker (so the cells of one
batch share that task's LLM pool) and writes their run directories itself: the output
folder must be on a file system every node sees (always true for a local cluster).
Each task asks Ray for ``num_cpus`` CPUs and ``num_gpus`` GPUs; by default one GPU when
a batch runs a local model (a seat needing an LLM whose backend is not ``openai`` or
``fake``) and the cluster has GPUs, none otherwise.

Without ``address`` a local Ray instance is started (no dashboard) and shut down at the
end; an already initialised Ray (a test's, a notebook's) is used as it is.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import agents as agent_registry
from govsim import runner
from govsim.config import RunConfig
from govsim.sweep import Cell, outcome

REMOTE_BACKENDS = {"openai", "fake"}  # backends that need no accelerator in the task


def _run_batch(jobs: list[tuple[dict[str, Any], str]], resume: bool) -> list[bool]:
    """The task body: run the cells, return for each whether it was already finished."""
    configs = [(RunConfig.model_validate(cfg), Path(out)) for cfg, out in jobs]
    return [r.skipped for r in asyncio.run(runner.run_episodes(configs, resume=resume))]


def runs_local_model(cells: list[Cell]) -> bool:
    """Whether a seat of these cells runs a model on the task's own machine."""
    return any(
        agent_registry.get(seat.type).needs_llm and (seat.backend or cell.config.llm.backend) not in REMOTE_BACKENDS
        for cell in cells
        for seat in cell.config.agents
    )


def run_ray(
    cells: list[Cell],
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float | None = None,
    batch: int = 1,
    resume: bool = True,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run cells as Ray tasks of ``batch`` cells each; one outcome per cell (``error`` if its task failed)."""
    import ray
    from tqdm import tqdm

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(_run_batch)
        pending: dict[Any, list[Cell]] = {}
        for start in range(0, len(cells), batch):
            chunk = cells[start : start + batch]
            gpus = num_gpus if num_gpus is not None else (1.0 if cluster_gpus and runs_local_model(chunk) else 0.0)
            jobs = [(c.config.dump(), str(c.directory)) for c in chunk]
            pending[task.options(num_cpus=num_cpus, num_gpus=gpus).remote(jobs, resume)] = chunk
        outcomes: dict[str, dict[str, Any]] = {}
        with tqdm(total=len(cells), unit="cell", desc="cells", disable=not progress, dynamic_ncols=True) as bar:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                chunk = pending.pop(ref)
                try:
                    for cell, skipped in zip(chunk, ray.get(ref)):
                        outcomes[cell.id] = outcome(cell, skipped)
                except Exception as exc:  # a failed task must not lose the others' results
                    for cell in chunk:
                        outcomes[cell.id] = {**outcome(cell, False), "error": f"{type(exc).__name__}: {exc}"[:500]}
                bar.update(len(chunk))
        return [outcomes[c.id] for c in cells]
    finally:
        if started_here:
            ray.shutdown()
