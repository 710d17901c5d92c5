"""The Ray executor of sweeps: each batch of cells is one Ray task with its own engine.

A task runs its cells with ``runner.run_episodes`` in the worker (so the cells of one
batch share that task's LLM pool) and writes their run directories itself. It works in
the driver's working directory, so relative paths (``--out runs``, a scenario file, a
model folder) mean on every node what they mean to the driver: that folder and the
output must be on a file system every node sees (always true for a local cluster), and
every node needs govsim installed (tasks import it). A worker otherwise starts in the
folder its ``ray start`` ran in, and a relative ``--out`` would scatter the cells there.
Each task asks Ray for ``num_cpus`` CPUs and ``num_gpus`` GPUs; by default one GPU when
a batch runs a local model (a seat needing an LLM whose backend is not ``openai`` or
``fake``) and the cluster has GPUs, none otherwise. Each outcome names the Ray node that
ran the cell (``node``).

Every task runs in a worker process of its own (``max_calls=1``): an engine, torch's
thread setting and the working directory do not outlive their batch, and Ray cannot
hand every task to the first worker that was ready. With reused workers, short cells
all ran on one node of two (the other's worker was still starting when the first had
finished them all); a new process costs 2-3 s, little beside a cell with an LLM.

Without ``address`` a local Ray instance is started (no dashboard) and shut down at the
end; an already initialised Ray (a test's, a notebook's) is used as it is. A cluster
started with ``ray start`` (Ray 2.60) usually wants token authentication: the driver
then needs ``RAY_AUTH_MODE=token`` and the head's token in ``RAY_AUTH_TOKEN``
(docs/scale.md). Without them Ray retries for 20 s and says only that it failed to
connect; ``run_ray`` then raises a one-line ``ConfigError`` that names the fix.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import agents as agent_registry
from govsim import runner
from govsim.config import ConfigError, RunConfig
from govsim.sweep import Cell, outcome

REMOTE_BACKENDS = {"openai", "fake"}  # backends that need no accelerator in the task


def _run_batch(jobs: list[tuple[dict[str, Any], str]], resume: bool, cwd: str) -> tuple[str, list[bool]]:
    """The task body: run the cells in the driver's working directory ``cwd``; returns this
    node's Ray id and, for each cell, whether it was already finished."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    if not os.path.isdir(cwd):
        raise FileNotFoundError(f"the sweep's working directory {cwd} is not on Ray node {node}: run sweeps from a shared folder")
    os.chdir(cwd)
    configs = [(RunConfig.model_validate(cfg), Path(out)) for cfg, out in jobs]
    return node, [r.skipped for r in asyncio.run(runner.run_episodes(configs, resume=resume))]


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
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except ConnectionError as exc:
            raise ConfigError(_cannot_connect(address, exc)) from exc
    try:
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(max_calls=1)(_run_batch)  # a fresh worker process per task; see the module doc
        pending: dict[Any, list[Cell]] = {}
        for start in range(0, len(cells), batch):
            chunk = cells[start : start + batch]
            gpus = num_gpus if num_gpus is not None else (1.0 if cluster_gpus and runs_local_model(chunk) else 0.0)
            jobs = [(c.config.dump(), str(c.directory)) for c in chunk]
            pending[task.options(num_cpus=num_cpus, num_gpus=gpus).remote(jobs, resume, os.getcwd())] = chunk
        outcomes: dict[str, dict[str, Any]] = {}
        with tqdm(total=len(cells), unit="cell", desc="cells", disable=not progress, dynamic_ncols=True) as bar:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                chunk = pending.pop(ref)
                try:
                    node, skipped = ray.get(ref)
                    for cell, done_before in zip(chunk, skipped):
                        outcomes[cell.id] = {**outcome(cell, done_before), "node": node}
                except Exception as exc:  # a failed task must not lose the others' results
                    cause = getattr(exc, "cause", None) or exc  # a RayTaskError's message is the remote traceback
                    for cell in chunk:
                        outcomes[cell.id] = {**outcome(cell, False), "error": f"{type(cause).__name__}: {cause}"[:500]}
                bar.update(len(chunk))
        return [outcomes[c.id] for c in cells]
    finally:
        if started_here:
            ray.shutdown()


def _cannot_connect(address: str | None, exc: Exception) -> str:
    """One line on a failed connection; Ray's own message does not say that the token was refused."""
    where = address or os.environ.get("RAY_ADDRESS") or "the default address"
    token_refused = "InvalidAuthToken" in str(exc.__cause__ or "")
    if token_refused and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return (f"the Ray cluster at {where} wants token authentication: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                "to the head's token (`ray get-auth-token` on the head prints it)")
    if token_refused:
        return f"the Ray cluster at {where} refused this token: set RAY_AUTH_TOKEN to the head's (`ray get-auth-token` there)"
    return f"cannot connect to the Ray cluster at {where}: is a head running there (`ray status --address {where}`)?"
