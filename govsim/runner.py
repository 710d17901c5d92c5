"""Runs episodes: the async loop that drives many episodes and agents at once.

Every agent of every concurrent episode is awaited together in each step, so all their
LLM requests are in flight at once and the engine batches them. Events reach the run
log in a fixed order (the agents' own events in seat order, then the env's), so the
same config and seed give the same ``events.jsonl`` on a deterministic backend.

Agent events are stamped with the month and phase in force when the agent acted.

A run directory is resumable: at the start of every month the env's and agents' state
is checkpointed; re-running the same command continues from there, or skips a finished
run.

A run whose LLM calls keep failing (``llm.fail_after`` in a row, or ``llm.fail_share`` of
a month's calls) is stopped: a ``run_failed`` event, and a summary with ``valid: false``
that reports leave out. A model that never answers is a failed run, not a survived one.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import agents as agent_registry
from agents.base import Agent, AgentContext
from envs import commons_v0
from govsim import metrics, network
from govsim.config import LLMConfig, RunConfig
from govsim.runlog import RunWriter, read_run, write_graph

MonthCallback = Callable[[RunConfig, int], None]


@dataclass
class EpisodeResult:
    config: RunConfig
    directory: Path
    summary: dict[str, Any]
    skipped: bool = False  # already finished before this call


class RunFailed(RuntimeError):
    """The run's LLM calls kept failing; the message is one line for the user."""


@dataclass
class CallHealth:
    """Counts failed LLM calls: in a row, and within the current month."""

    limits: LLMConfig
    in_row: int = 0
    month_calls: int = 0
    month_failed: int = 0
    failed: int = 0
    calls: int = 0
    last_error: str = ""

    def record(self, event: dict[str, Any]) -> None:
        self.calls += 1
        self.month_calls += 1
        if "error" in event:  # a failed llm_call, or an agent_error
            self.last_error = str(event["error"]).splitlines()[0][:200] if event["error"] else "?"
            self.failed += 1
            self.month_failed += 1
            self.in_row += 1
        else:
            self.in_row = 0

    def check(self, month_over: bool) -> None:
        """Raise RunFailed when the calls failed too often; start a new month's count when it is over."""
        if self.in_row >= self.limits.fail_after:
            raise RunFailed(
                f"{self.in_row} LLM calls in a row failed (llm.fail_after={self.limits.fail_after}); "
                f"the last: {self.last_error}"
            )
        if month_over:
            share = self.month_failed / self.month_calls if self.month_calls else 0.0
            enough = self.month_calls >= self.limits.fail_after
            self.month_calls = self.month_failed = 0
            if enough and share >= self.limits.fail_share:
                raise RunFailed(
                    f"{share:.0%} of the month's LLM calls failed (llm.fail_share={self.limits.fail_share}); "
                    f"the last: {self.last_error}"
                )


@dataclass
class _Step:
    """The agent events of one step, held back so they are logged in seat order.

    ``moment`` is the month and phase in force while the agents act; their events carry it.
    """

    health: CallHealth
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    moment: dict[str, Any] = field(default_factory=dict)

    def emitter(self, name: str) -> Callable[[dict[str, Any]], None]:
        def emit(event: dict[str, Any]) -> None:
            record = {**self.moment, "agent": name, **event}
            if record.get("type") in ("llm_call", "agent_error"):  # an agent that raises failed its call too
                self.health.record(record)
            self.pending.setdefault(name, []).append(record)

        return emit


class Episode:
    """One run of the env with its agents, writing one run directory."""

    def __init__(self, config: RunConfig, directory: str | Path, pool: Any = None, on_month: MonthCallback | None = None):
        self.config = config
        self.directory = Path(directory)
        self.pool = pool
        self.on_month = on_month or (lambda cfg, month: None)
        self.writer = RunWriter(self.directory)
        self.step_events = _Step(CallHealth(config.llm))

    def _build_agents(self, env: commons_v0.CommonsEnv) -> dict[str, Agent]:
        built: dict[str, Agent] = {}
        for index, seat in enumerate(self.config.agents):
            cls = agent_registry.get(seat.type)
            emit = self.step_events.emitter(seat.name)
            llm = None
            if cls.needs_llm:
                if self.pool is None:
                    raise RuntimeError(f"agent {seat.name!r} of type {seat.type!r} needs an LLM, but none was given")
                from govsim.llm import LoggedLLM

                tags = (("seed", self.config.seed), ("agent", seat.name))
                llm = LoggedLLM(self.pool.get(self.config.llm, model=seat.model, backend=seat.backend), emit, tags)
            ctx = AgentContext(
                seat=seat, config=self.config, scenario=env.scenario,
                rng=np.random.default_rng([self.config.seed, index]), emit=emit, llm=llm,
            )
            built[seat.name] = cls(ctx)
        return built

    async def run(self, resume: bool = True) -> EpisodeResult:
        if resume and self.writer.finished:
            return EpisodeResult(self.config, self.directory, read_run(self.directory).summary or {}, skipped=True)
        started = time.perf_counter()
        identity = model_identity(self.config)
        checkpoint = self.writer.open(self.config.dump(), resume=resume, meta={"models": identity["models"]})
        if self.writer.restart_reason:
            print(self.writer.restart_reason, file=sys.stderr)
        env = commons_v0.parallel_env(config=self.config)
        agents = self._build_agents(env)
        failure: str | None = None
        if checkpoint is None:
            observations, infos = env.reset(seed=self.config.seed)
            self.writer.append({"type": "run_started", **_run_identity(self.config), "model_id": identity["model_id"]})
        else:
            observations, infos = env.load_state_dict(checkpoint["env"])
            for name, state in checkpoint["agents"].items():
                agents[name].load_state_dict(state)
            self.writer.append({"type": "run_resumed", "month": env.month})
        self._log(env)
        health = self.step_events.health
        try:
            while env.agents:
                if env.phase.label == "harvest":
                    self.writer.checkpoint(
                        {"env": env.state_dict(), "agents": {n: a.state_dict() for n, a in agents.items()}}
                    )
                    self.on_month(self.config, env.month)
                month = env.month
                self.step_events.moment = {"month": month, "phase": env.phase.label}
                actions = await self._act(agents, env.agents, observations, infos)
                observations, _, _, _, infos = env.step(actions)
                self._log(env)
                try:
                    health.check(month_over=env.month != month or not env.agents)
                except RunFailed as exc:
                    failure = str(exc)
                    self.writer.append(
                        {"type": "run_failed", **self.step_events.moment, "reason": failure,
                         "failed_calls": health.failed, "calls": health.calls}
                    )
                    break
                self.writer.flush()
        finally:
            self.writer.close()
        events = read_run(self.directory).events
        write_graph(self.directory, network.graph_to_json(network.run_graph(events, self.config)))
        summary = {
            "metrics": metrics.episode_metrics(events, self.config),
            "counters": metrics.counters(events),
            "wall_s": round(time.perf_counter() - started, 3),
            "valid": failure is None,
            "invalid_reason": failure,
            **_run_identity(self.config),
            "model_id": identity["model_id"],
            "model_identity": {"models": identity["models"]} if identity["models"] else None,
        }
        self.writer.finish(summary)
        return EpisodeResult(self.config, self.directory, summary)

    async def _act(self, agents: dict[str, Agent], present: list[str], observations, infos) -> dict[str, Any]:
        async def one(name: str) -> Any:
            try:
                return await agents[name].act(observations[name], infos[name])
            except Exception as exc:  # an agent that raises must not end the run: record it, count it
                self.step_events.emitter(name)({"type": "agent_error", "error": f"{type(exc).__name__}: {exc}"[:500]})
                return {}

        results = await asyncio.gather(*(one(name) for name in present))
        return {name: action for name, action in zip(present, results) if infos[name]["acting"]}

    def _log(self, env: commons_v0.CommonsEnv) -> None:
        for seat in self.config.agents:
            for event in self.step_events.pending.pop(seat.name, []):
                self.writer.append(event)
        for event in env.drain_events():
            self.writer.append(event)


def _run_identity(config: RunConfig) -> dict[str, Any]:
    return {
        "scenario": config.scenario,
        "experiment": config.experiment,
        "profile": config.profile,
        "seed": config.seed,
        "model": config.llm.model if any(_needs_llm(s.type) for s in config.agents) else None,
        "agents": {s.name: s.type for s in config.agents},
    }


def model_identity(config: RunConfig) -> dict[str, Any]:
    """The resolved model of every LLM seat (``models``) and one ``model_id`` naming them all."""
    from govsim.llm.identity import model_identity as identify
    from govsim.llm.pool import resolve_backend

    pairs = sorted(
        {(resolve_backend(s.backend or config.llm.backend), s.model or config.llm.model)
         for s in config.agents if _needs_llm(s.type)}
    )
    models = [identify(backend, model) for backend, model in pairs]
    return {"model_id": "+".join(m["id"] for m in models) or None, "models": models}


def _needs_llm(agent_type: str | None) -> bool:
    return bool(agent_type) and agent_registry.get(agent_type).needs_llm


def needs_llm(configs: list[RunConfig]) -> bool:
    return any(_needs_llm(seat.type) for cfg in configs for seat in cfg.agents)


async def run_episodes(
    jobs: list[tuple[RunConfig, Path]],
    resume: bool = True,
    pool: Any = None,
    on_month: MonthCallback | None = None,
) -> list[EpisodeResult]:
    """Run episodes concurrently in this process, sharing one LLM pool (one engine per model)."""
    async with llm_pool([cfg for cfg, _ in jobs], pool) as shared:
        return list(
            await asyncio.gather(*(Episode(cfg, out, shared, on_month).run(resume=resume) for cfg, out in jobs))
        )


@asynccontextmanager
async def llm_pool(configs: list[RunConfig], pool: Any = None) -> AsyncIterator[Any]:
    """``pool`` itself, or a new pool closed on exit when a seat of these configs needs an LLM."""
    if pool is not None or not needs_llm(configs):
        yield pool
        return
    from govsim.llm.pool import LLMPool

    own = LLMPool(configs[0].llm)  # its max_concurrency holds for all episodes
    try:
        yield own
    finally:
        await own.aclose()


def run(config: RunConfig, directory: str | Path, resume: bool = True, pool: Any = None) -> EpisodeResult:
    """Run one episode to the end (a convenience for scripts and tests)."""
    return asyncio.run(run_episodes([(config, Path(directory))], resume=resume, pool=pool))[0]


def progress_bar(total_months: int, enabled: bool = True):
    """A tqdm bar over months of all episodes, and the callback that advances it."""
    if not enabled:
        return nullcontext(), None
    from tqdm import tqdm

    bar = tqdm(total=total_months, unit="month", desc="months", dynamic_ncols=True)
    seen: set[tuple[int, int]] = set()

    def on_month(cfg: RunConfig, month: int) -> None:
        key = (id(cfg), month)
        if key not in seen:
            seen.add(key)
            bar.update(1)

    return bar, on_month
