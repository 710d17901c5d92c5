"""The inference benchmark's smoke run on the fake backend: the report's structure, no timings asserted."""

import asyncio
import json

from typer.testing import CliRunner

from govsim import bench
from govsim.cli import app
from govsim.llm import Constraint, Request, Sampling
from govsim.llm.fake import FakeLLM


def ask(text: str, **kw) -> Request:
    return Request(messages=({"role": "user", "content": text},), **kw)


def test_busy_seconds_is_the_union_of_intervals():
    intervals = [(1.0, 3.0), (2.0, 4.0), (6.0, 7.0), (-5.0, 0.5)]
    assert bench.busy_seconds(intervals, start=0.0, end=6.5) == 0.5 + 3.0 + 0.5


def test_requests_round_trip_through_llm_call_events():
    events = [
        {"messages": [{"role": "user", "content": "Rate it"}], "sampling": {"temperature": 0, "top_p": 1.0,
         "max_tokens": 12, "stop": []}, "constraint": {"regex": r"Rating: \d", "choice": None}, "adapter": None,
         "tags": {"agent": "John", "purpose": "importance"}},
    ]
    (request,) = bench.requests_of(events)
    assert request.constraint.regex == r"Rating: \d" and request.sampling.max_tokens == 12
    assert request.tag_dict == {"agent": "John", "purpose": "importance"}


def test_fixed_length_sets_min_tokens_where_no_constraint_ends_the_reply():
    inner = FakeLLM()
    fixed = bench.FixedLength(inner)
    asyncio.run(fixed.complete(ask("Talk.", sampling=Sampling(max_tokens=7))))
    asyncio.run(fixed.complete(ask("Rate.", sampling=Sampling(max_tokens=7), constraint=Constraint(choice=("1", "2")))))
    assert [r.sampling.min_tokens for r in inner.requests] == [7, 0]


def test_quick_bench_on_the_fake_backend(tmp_path):
    options = bench.BenchOptions.quick(backend="fake", embedder="hash", out=tmp_path)
    report = asyncio.run(bench.benchmark(options))
    sequential, batched = report["modes"]["sequential"], report["modes"]["batched"]
    for result in (sequential, batched, report["raw"]["prefix_cache_on"]):
        assert {"wall_s", "calls", "completion_tokens", "calls_per_s", "tokens_per_s"} <= set(result)
        assert result["calls"] > 0 and result["completion_tokens"] > 0
    assert report["same_tokens"] and sequential["completion_tokens"] == batched["completion_tokens"]
    assert sequential["calls"] == batched["calls"] == report["raw"]["prefix_cache_on"]["calls"]
    assert sequential["max_in_flight"] == 1 and batched["max_in_flight"] > 1
    assert 0.0 <= batched["outside_engine_share"] <= 1.0
    assert report["raw"]["prefix_cache_off"] is None  # only vLLM has a prefix cache to switch off
    assert set(report["ratios"]) == {"batched_vs_sequential", "end_to_end_vs_raw", "outside_engine_share",
                                     "prefix_cache_speedup"}
    assert set(report["targets"]) == set(bench.TARGETS)
    assert (tmp_path / "sequential" / "seed0" / "summary.json").exists()


def test_bench_command_prints_the_table_and_writes_json(tmp_path, monkeypatch):
    quick = bench.BenchOptions.quick
    monkeypatch.setattr(bench.BenchOptions, "quick", classmethod(lambda cls, **kw: quick(**kw, embedder="hash")))
    result = CliRunner().invoke(app, ["bench", "--backend", "fake", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for shown in ("sequential", "raw, cache on", "batched_vs_sequential"):
        assert shown in result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["options"]["backend"] == "fake" and report["same_tokens"]


def test_more_seats_than_default_names_each_get_their_own_name(tmp_path):
    options = bench.BenchOptions(agents=12, embedder="hash", out=tmp_path)
    (config, _), *_ = bench.workload(options, "batched")
    names = [seat.name for seat in config.agents]
    assert len(names) == len(set(names)) == 12 and names[10:] == ["John2", "Kate2"]
