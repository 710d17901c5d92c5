"""The transformers backend on the real embedded model (SmolLM2-135M), offline."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from govsim.llm import Constraint, Request, Sampling, resolve_model
from govsim.llm.transformers_backend import TransformersLLM

pytestmark = pytest.mark.slow

NUMBERS = tuple(str(n) for n in range(11))


def ask(text: str, temperature: float = 0.0, max_tokens: int = 12, **kw) -> Request:
    messages = ({"role": "user", "content": text},)
    return Request(messages=messages, sampling=Sampling(temperature=temperature, max_tokens=max_tokens), **kw)


REQUESTS = [
    ask("What is the capital of France?"),
    ask("Write one sentence about fishing.", temperature=0.9),
    ask("How many tons of fish will you catch this month, from 0 to 10?", temperature=1.0, constraint=Constraint(choice=NUMBERS)),
    ask("How many tons will you catch?", constraint=Constraint(regex=r"Answer: \d{1,2} tons"), max_tokens=16),
]


@pytest.fixture(scope="module")
def folder() -> str:
    return resolve_model("embedded")


@pytest.fixture(scope="module")
def llm(folder):
    engine = TransformersLLM(folder, seed=3)
    yield engine
    asyncio.run(engine.aclose())


def complete_all(llm: TransformersLLM, requests: list[Request]):
    async def main():
        return await asyncio.gather(*(llm.complete(r) for r in requests))

    return asyncio.run(main())


def test_concurrent_requests_run_as_one_deterministic_batch(folder):
    first = TransformersLLM(folder, seed=7)
    outs = complete_all(first, REQUESTS)
    assert first.batch_sizes == [len(REQUESTS)]
    assert all(o.batch_size == len(REQUESTS) for o in outs)
    assert all(o.prompt_tokens > 20 and 0 < o.completion_tokens <= 16 for o in outs)
    assert outs[0].text.strip() and outs[0].backend == "transformers"

    again = TransformersLLM(folder, seed=7)  # a fresh engine, requests in another order
    repeat = complete_all(again, REQUESTS[::-1])[::-1]
    assert [o.text for o in repeat] == [o.text for o in outs]
    asyncio.run(first.aclose())
    asyncio.run(again.aclose())


def test_choice_and_regex_constraints_are_honoured(llm):
    choices = [ask(f"Pick a number for round {i}.", temperature=1.0, constraint=Constraint(choice=NUMBERS)) for i in range(3)]
    regex = ask("Your catch?", temperature=0.8, max_tokens=16, constraint=Constraint(regex=r"Answer: \d{1,2} tons"))
    stop = Request(
        messages=({"role": "user", "content": "Count from 1 to 20, separated by commas."},),
        sampling=Sampling(temperature=0.0, max_tokens=40, stop=("5",)),
    )
    outs = complete_all(llm, [*choices, regex, stop])
    for out in outs[:3]:
        assert out.text in NUMBERS and out.constrained and out.finish_reason == "stop"
    assert Constraint(regex=r"Answer: \d{1,2} tons").matches(outs[3].text) and outs[3].constrained
    assert "5" not in outs[4].text and outs[4].finish_reason == "stop" and not outs[4].constrained


def test_lora_adapters_are_applied_per_request(llm, folder, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(folder)
    lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")
    del base

    question = "What is the capital of France?"
    runs = len(llm.batch_sizes)
    plain, adapted, _ = complete_all(llm, [ask(question), ask(question, adapter=str(tmp_path / "adapter")), ask(question + "?")])
    assert sorted(llm.batch_sizes[runs:]) == [1, 2]  # one batch per adapter
    assert adapted.text != plain.text
    (again,) = complete_all(llm, [ask(question)])  # the adapter is loaded but must stay off for base requests
    assert again.text == plain.text


def test_an_open_assistant_turn_is_continued(llm):
    """The reference's prefilled answers: the template leaves the last assistant turn open."""
    from govsim.llm.transformers_backend import _render

    messages = ({"role": "user", "content": "How many tons will you catch?"}, {"role": "assistant", "content": "Answer: "})
    done = asyncio.run(llm.complete(Request(messages=messages, sampling=Sampling(temperature=0.0, max_tokens=3),
                                            constraint=Constraint(regex=r"(0|[1-9][0-9]{0,2})"))))
    assert done.text.isdigit() and done.constrained
    prompt = _render(llm._tok, messages)
    assert prompt.rstrip().endswith("Answer:") and "<|im_end|>" not in prompt.rstrip()[-20:]
    stopped = asyncio.run(llm.complete(Request(
        messages=({"role": "user", "content": "Count from 1 to 20, then say Answer: 5"},),
        sampling=Sampling(temperature=0.0, max_tokens=80, stop=("Answer:", "10")),
    )))
    assert "10" not in stopped.text and "Answer:" not in stopped.text


def test_min_tokens_holds_back_the_end_of_the_reply(llm):
    """What the bench relies on: a free-text reply as long as asked; a constrained one may not end early either."""
    short = ask("Reply with one word: yes or no.", max_tokens=24)
    at_least = Request(messages=short.messages, sampling=Sampling(max_tokens=24, min_tokens=24))
    no = Constraint(choice=("no", "no way"))
    answer = ask("Is the sky green? Answer yes or no.", max_tokens=6, constraint=no)
    longer = Request(messages=answer.messages, sampling=Sampling(max_tokens=6, min_tokens=2), constraint=no)
    plain, held, first, held_answer = complete_all(llm, [short, at_least, answer, longer])
    assert plain.completion_tokens < 24 and plain.finish_reason == "stop"  # the model ends early on its own
    assert held.completion_tokens == 24 and held.finish_reason == "length"
    assert first.text == "no" and held_answer.text == "no way" and held_answer.constrained  # "no" is one token
