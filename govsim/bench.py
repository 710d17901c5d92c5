"""The inference benchmark behind ``govsim bench`` and ``experiments/bench_inference.py``.

One fixed workload, measured in one process on one engine so the ratios are fair:

1. **Sequential**: the real generative-agent episodes (default fishery, ``seeds`` episodes
   run concurrently) with ``llm.max_concurrency=1``: one request at a time, as the
   reference GovSim makes its calls.
2. **Batched**: the same episodes with no limit: every agent of every episode awaits the
   engine at once and the engine batches them.
3. **Raw engine**: the prompts of the batched run (read back from its ``llm_call``
   events) sent to the engine all at once, without env or agents: the upper bound for
   this engine on this machine. Sent twice, with the prefix cache read and without.

Replies have fixed lengths, so both modes generate the same tokens for the same calls:
free-text requests generate exactly ``max_tokens`` tokens (``Sampling.min_tokens`` set to
it: vLLM holds back the end-of-sequence token and the stop strings until then; the
transformers backend holds back only the former, so there a reply still ends at a stop
string); constrained requests (ratings, yes/no, names) end where their constraint ends.
Sampling is greedy (temperature 0), so both modes follow the same path as long as
batching does not flip a near-tie; the report says whether the token counts matched.

"Outside the engine" is the share of wall time with no request in the engine (from each
call's ``t_done`` and ``latency_s``): env steps, agent code, memory retrieval, embeddings,
logging, and waiting for the slowest agent of a step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govsim.config import LLMConfig, RunConfig, resolve, seat_names
from govsim.llm.base import LLM, Completion, Constraint, ForwardingLLM, Request, Sampling
from govsim.llm.pool import LLMPool, make_llm
from govsim.phases import Purpose
from govsim.runlog import read_run

TARGETS = {"batched_vs_sequential": 5.0, "end_to_end_vs_raw": 0.70, "outside_engine_share": 0.10}


@dataclass(frozen=True)
class BenchOptions:
    seeds: int = 5  # episodes run concurrently
    months: int = 1  # months per episode (sequential mode takes minutes per month)
    backend: str = "vllm"  # vllm, transformers or fake
    model: str = "embedded"
    max_tokens: int = 64  # the length of every free-text reply
    agents: int = 5  # generative agents per episode
    embedder: str = "auto"  # the agents' memory embedder (auto = MiniLM when installed)
    out: Path = Path("runs/bench")

    @classmethod
    def quick(cls, **kwargs: Any) -> BenchOptions:
        """A tiny smoke run: 2 episodes of 2 agents, 8-token replies."""
        return cls(**{"seeds": 2, "agents": 2, "max_tokens": 8, **kwargs})


# ---------------------------------------------------------------------- the engine


class FixedLength(ForwardingLLM):
    """Free-text replies ``max_tokens`` long: ``min_tokens`` set to it where no constraint
    ends the reply (exact on vLLM; see the module doc). The engine's calls stay the
    backend's own; only the requests change, after the call logger has seen them."""

    async def complete(self, request: Request) -> Completion:
        if request.constraint is None:
            sampling = dataclasses.replace(request.sampling, min_tokens=request.sampling.max_tokens)
            request = dataclasses.replace(request, sampling=sampling)
        return await self.inner.complete(request)


def make_engine(options: BenchOptions) -> LLM:
    """The backend the bench measures, from the one backend factory (the fake one scripted here)."""
    if options.backend == "fake":
        return _scripted_fake(options.max_tokens)
    if options.backend not in ("vllm", "transformers"):
        raise ValueError(f"bench: backend {options.backend!r} is not benchmarked; use vllm, transformers or fake")
    return make_llm(options.backend, options.model, LLMConfig(backend=options.backend, model=options.model))


def _scripted_fake(max_tokens: int) -> LLM:
    """A fake model whose replies parse, padded to ``max_tokens`` words (its tokens)."""
    from govsim.llm.fake import FakeLLM

    replies = {
        Purpose.HARVEST: "Answer: 10 tons.",
        Purpose.IMPORTANCE: "Rating: 4",
        Purpose.CONVERSE: "Response: Let us keep to 10 each.\nConversation conclusion by me: no\nNext speaker: {next}",
        Purpose.SUMMARIZE: "Summary: Everyone agreed to take 10.\nLimit: 10",
        Purpose.REFLECT: "Taking 10 each keeps the lake full (because of 1, 2)",
    }

    def reply(request: Request) -> str:
        purpose = request.tag_dict.get("purpose", "")
        text = replies.get(purpose, "no")
        if purpose == Purpose.CONVERSE:  # John and Kate hand the word to each other
            text = text.format(next="Kate" if request.tag_dict.get("agent") == "John" else "John")
        if request.constraint is not None or purpose == Purpose.IMPORTANCE:
            return text
        return text + " ok" * max(0, max_tokens - len(text.split()))

    return FakeLLM(reply)


async def start_engine(options: BenchOptions) -> LLM:
    """The shared engine, started and warmed up (and the embedder loaded) before any timing."""
    engine = make_engine(options)
    warm = Request(messages=({"role": "user", "content": "Say hello."},), sampling=Sampling(max_tokens=8))
    fixed = FixedLength(engine)
    await asyncio.gather(*(fixed.complete(warm) for _ in range(4)))
    if options.embedder in ("auto", "minilm"):
        from govsim.llm import embed

        if embed.minilm_available():
            await embed.MiniLMEmbedder.shared().embed(["warm up"])
    return engine


async def reset_prefix_cache(engine: LLM) -> None:
    """Empty the engine's prefix cache (vLLM), so every measurement starts cold."""
    if hasattr(engine, "reset_prefix_cache"):
        await engine.reset_prefix_cache()


# ---------------------------------------------------------------------- the workload


def workload(options: BenchOptions, mode: str) -> list[tuple[RunConfig, Path]]:
    """The episodes of one mode: default fishery, generative agents, greedy fixed-length replies."""
    overrides: dict[str, Any] = {
        "agent": "generative",
        "n_agents": options.agents,
        "months": options.months,
        "llm.backend": options.backend,
        "llm.model": options.model,
        "llm.temperature": 0,
        "llm.max_tokens": options.max_tokens,
        "llm.max_concurrency": 1 if mode == "sequential" else None,
    }
    if options.embedder != "auto":
        overrides["agents"] = [
            {"name": name, "type": "generative", "params": {"embedder": options.embedder}}
            for name in seat_names(options.agents)
        ]
    base = resolve("default", overrides=overrides)
    return [(base.model_copy(update={"seed": s}), options.out / mode / f"seed{s}") for s in range(options.seeds)]


async def run_mode(engine: LLM, jobs: list[tuple[RunConfig, Path]]) -> dict[str, Any]:
    """Run the episodes on ``engine`` behind a pool with the jobs' concurrency limit."""
    from govsim import runner

    await reset_prefix_cache(engine)
    pool = LLMPool(jobs[0][0].llm, factory=lambda *args: FixedLength(engine))  # not closed: the engine is shared
    t0, started, cpu0 = time.perf_counter(), time.time(), time.process_time()
    await runner.run_episodes(jobs, resume=False, pool=pool)
    wall, ended, cpu = time.perf_counter() - t0, time.time(), time.process_time() - cpu0
    calls = [e for _, path in jobs for e in read_run(path).of_type("llm_call")]
    busy = busy_seconds([(e["t_done"] - (e["latency_s"] or 0.0), e["t_done"]) for e in calls], started, ended)
    return {
        **_throughput(wall, len(calls), sum(e["completion_tokens"] for e in calls)),
        "prompt_tokens": sum(e["prompt_tokens"] for e in calls),
        "engine_busy_s": round(busy, 3),
        "outside_engine_share": round(1 - busy / wall, 4) if wall else 0.0,
        "max_in_flight": pool.max_in_flight,
        # CPU seconds of this process (event loop, agents, embedder, logging, and the engine
        # client's own work): what the env and agents cost even where it overlaps the engine
        "main_process_cpu_s": round(cpu, 3),
        "calls_log": calls,
    }


def requests_of(calls: Sequence[dict[str, Any]]) -> list[Request]:
    """The requests of ``llm_call`` events, as they were sent."""
    out = []
    for e in calls:
        sampling = {**e["sampling"], "stop": tuple(e["sampling"].get("stop") or ())}
        c = e["constraint"]
        constraint = Constraint(regex=c["regex"], choice=tuple(c["choice"]) if c["choice"] else None) if c else None
        tags = tuple((e.get("tags") or {}).items())
        out.append(Request(tuple(e["messages"]), Sampling(**sampling), constraint, e.get("adapter"), tags))
    return out


async def run_raw(engine: LLM, requests: Sequence[Request], prefix_cache: bool = True) -> dict[str, Any]:
    """All requests at once, straight to the engine: no env, no agents, no pool."""
    await reset_prefix_cache(engine)
    if hasattr(engine, "read_prefix_cache"):
        engine.read_prefix_cache = prefix_cache
    fixed = FixedLength(engine)
    t0 = time.perf_counter()
    try:
        done: list[Completion] = await asyncio.gather(*(fixed.complete(r) for r in requests))
    finally:
        if hasattr(engine, "read_prefix_cache"):
            engine.read_prefix_cache = True
    wall = time.perf_counter() - t0
    prompt = sum(c.prompt_tokens for c in done)
    cached = sum(c.cached_tokens or 0 for c in done)
    return {
        **_throughput(wall, len(done), sum(c.completion_tokens for c in done)),
        "prompt_tokens": prompt,
        "cached_prompt_share": round(cached / prompt, 4) if prompt else 0.0,
    }


def busy_seconds(intervals: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Length of the union of ``intervals`` clipped to [start, end]: time with >= 1 call in the engine."""
    total, reach = 0.0, start
    for a, b in sorted((max(a, start), min(b, end)) for a, b in intervals):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def _throughput(wall: float, calls: int, tokens: int) -> dict[str, Any]:
    return {
        "wall_s": round(wall, 3),
        "calls": calls,
        "completion_tokens": tokens,
        "calls_per_s": round(calls / wall, 3) if wall else 0.0,
        "tokens_per_s": round(tokens / wall, 2) if wall else 0.0,
    }


# ---------------------------------------------------------------------- the benchmark


async def benchmark(options: BenchOptions) -> dict[str, Any]:
    """All measurements, in one process on one engine. Returns the report (see ``write_report``)."""
    engine = await start_engine(options)
    try:
        sequential = await run_mode(engine, workload(options, "sequential"))
        batched = await run_mode(engine, workload(options, "batched"))
        requests = requests_of(batched.pop("calls_log"))
        sequential.pop("calls_log")
        raw = await run_raw(engine, requests, prefix_cache=True)
        raw_no_cache = await run_raw(engine, requests, prefix_cache=False) if options.backend == "vllm" else None
    finally:
        await engine.aclose()
    ratios = {
        "batched_vs_sequential": _ratio(batched["tokens_per_s"], sequential["tokens_per_s"]),
        "end_to_end_vs_raw": _ratio(batched["tokens_per_s"], raw["tokens_per_s"]),
        "outside_engine_share": batched["outside_engine_share"],
        "prefix_cache_speedup": _ratio(raw["tokens_per_s"], raw_no_cache["tokens_per_s"]) if raw_no_cache else None,
    }
    return {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(options).items()},
        "machine": machine(),
        "modes": {"sequential": sequential, "batched": batched},
        "raw": {"prefix_cache_on": raw, "prefix_cache_off": raw_no_cache},
        "ratios": ratios,
        "same_tokens": sequential["completion_tokens"] == batched["completion_tokens"],
        "targets": {k: {"target": v, "met": _met(k, ratios[k], v)} for k, v in TARGETS.items()},
        "note": "absolute numbers are noisy when other processes share the CPU; ratios come from one process",
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _met(key: str, value: float | None, target: float) -> bool | None:
    if value is None:
        return None
    return value < target if key == "outside_engine_share" else value >= target


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), None)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


# ---------------------------------------------------------------------- output


def write_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def print_report(report: dict[str, Any]) -> None:
    """The report as rich tables on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="govsim bench: generative episodes, one engine")
    for column in ("run", "wall s", "calls", "tokens", "calls/s", "tokens/s", "outside"):
        table.add_column(column, justify="right" if column != "run" else "left", no_wrap=True)
    rows = [
        ("sequential", report["modes"]["sequential"]),  # one request at a time
        ("batched", report["modes"]["batched"]),  # everything in flight at once
        ("raw, cache on", report["raw"]["prefix_cache_on"]),  # batched's prompts, straight to the engine
        ("raw, cache off", report["raw"]["prefix_cache_off"]),
    ]
    for name, r in rows:
        if r is None:
            continue
        outside = f"{r['outside_engine_share']:.1%}" if "outside_engine_share" in r else "-"
        table.add_row(
            name, f"{r['wall_s']:.1f}", str(r["calls"]), str(r["completion_tokens"]),
            f"{r['calls_per_s']:.2f}", f"{r['tokens_per_s']:.1f}", outside,
        )
    console.print(table)
    ratios = Table(title="ratios")
    for column in ("measure", "value", "target", "met"):
        ratios.add_column(column)
    for key, value in report["ratios"].items():
        target = report["targets"].get(key)
        shown = "-" if value is None else (f"{value:.1%}" if key == "outside_engine_share" else f"{value:.2f}")
        goal = "" if target is None else ("< " if key == "outside_engine_share" else ">= ") + (
            f"{target['target']:.0%}" if key != "batched_vs_sequential" else f"{target['target']:g}x"
        )
        ratios.add_row(key, shown, goal, "" if target is None else str(target["met"]))
    console.print(ratios)
    m, o = report["machine"], report["options"]
    console.print(
        f"same tokens in both modes: {report['same_tokens']}; backend {o['backend']}, {o['seeds']} seeds x "
        f"{o['agents']} agents x {o['months']} month(s), {o['max_tokens']} tokens a reply; "
        f"{m['cpu']}, {m['cores']} cores, load {m['load_avg_1m']}. Note: {report['note']}."
    )
