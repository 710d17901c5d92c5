"""Re-ReST experiments run through ``govsim.rerest.pipeline`` without a model: the real
pool over one FakeLLM answering from a script, and a stand-in for LoRA training that
writes an adapter folder and a record as ``train_lora`` does. The pipeline tests use the
parts; ``web_runs`` runs a whole experiment for the dashboard's Re-ReST page."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from govsim.config import LLMConfig
from govsim.llm import LLMPool
from govsim.llm.fake import FakeLLM
from govsim.rerest import config as rerest_config
from govsim.rerest import pipeline
from govsim.rerest.stages import read_jsonl

SEATS = [{"name": n, "params": {"embedder": "hash", "importance": 5}} for n in ("John", "Kate")]
TALK = {  # the town hall's calls (default experiment)
    "converse": " I suggest we each take at most 9 tons.\n",
    "converse_end": "no",
    "converse_next": "Kate",
    "summarize": "They agreed that each takes at most 9 tons",
    "summarize_limit": "Everyone said 9 tons, so the limit is 9",
}


def continuation(request):
    """Whether the request continues an open assistant turn (the number after 'Answer: ')."""
    return request.messages[-1]["role"] == "assistant"


def script(request):
    """Episodes: the base model takes 40 (the lake collapses in month 2), an adapter 5.
    Samples: k=0 takes 5 (passes), k=1 takes 50. Corrections: 5 for John, 99 for Kate.
    Fixed inputs: the rerest adapter 5, the others as the samples. Subskill items: the
    rerest adapter 5, the others 50."""
    tags, adapter = request.tag_dict, request.adapter
    purpose = tags.get("purpose")
    if purpose == "subskill":
        return "Answer: 5" if adapter and adapter.endswith("rerest") else "Answer: 50"
    if purpose in TALK:
        if purpose == "summarize_limit" and continuation(request):
            return "9"
        return TALK[purpose]
    if purpose == "rerest_reflect" and not continuation(request):
        return "Fewer this time."
    if purpose in ("harvest", "rerest_sample", "rerest_eval") and not continuation(request):
        return "I think it over."
    if purpose == "harvest_amount":
        return "5" if adapter else "40"
    if purpose == "rerest_reflect":
        return "5" if "John" in tags["decision"] else "99"
    if purpose == "rerest_eval" and adapter and adapter.endswith("rerest"):
        return "5"
    return "5" if tags.get("k") in (0, "greedy") else "50"


class Boom(Exception):
    pass


class FakeTraining:
    """Stands in for ``train_lora``; records every call (``calls``) and fails once on ``calls["fail_on"]``."""

    def __init__(self):
        self.calls = {"train": [], "fail_on": None, "objectives": {}, "init": {}, "heldout": {}, "threads": []}
        self.started = threading.Event()  # set by every call
        self.hold = None  # seconds to wait for ``stop`` in the next call, as a long training would

    def __call__(self, model, data, adapter, spec, progress=True, objective="sft", init=None, heldout=None, stop=None):
        calls, name = self.calls, f"{adapter.parent.parent.name}/{adapter.name}"
        self.started.set()
        if self.hold:
            calls["stopped"], self.hold = stop.wait(self.hold), None
            raise Boom(name)
        calls["objectives"][name], calls["init"][name] = objective, init
        import torch

        calls["threads"].append(torch.get_num_threads())
        calls["heldout"][name] = len(read_jsonl(heldout))
        if calls["fail_on"] == name:
            calls["fail_on"] = None
            raise Boom(name)
        calls["train"].append(name)
        adapter.mkdir(parents=True)
        (adapter / "adapter_config.json").write_text("{}")
        return {"examples": len(read_jsonl(data)), "too_long": 0, "tokens": 1, "adapter": str(adapter), "init": init,
                "heldout_examples": 1, "heldout_too_long": 0, "steps": 2, "epochs": 2.0, "first_loss": 2.0,
                "last_loss": 1.0, "train_loss": 1.5, "train_s": 0.1,
                "epoch_losses": [{"epoch": 1, "loss": 1.8, "steps": 1}, {"epoch": 2, "loss": 1.2, "steps": 1}],
                "heldout_losses": [{"epoch": 0.0, "loss": 2.5}, {"epoch": 1.0, "loss": 2.0}, {"epoch": 2.0, "loss": 1.7}]}


class Pool(LLMPool):
    """The real pool over one FakeLLM; counts how often its engines were shut down."""

    def __init__(self):
        self.fake = FakeLLM(script)
        super().__init__(LLMConfig(backend="fake"), factory=lambda *a: self.fake)
        self.closed = 0

    async def aclose(self):
        self.closed += 1
        await super().aclose()


def small_config(folder: Path, **extra) -> rerest_config.ReRestConfig:
    """Two generative agents, 2 months, one training seed, two held-out seeds, k = 2; output in ``folder``."""
    return rerest_config.load(overrides={
        "out": str(folder), "train_seeds": [0], "eval_seeds": [100, 101],
        "run": {"months": 2, "experiment": "no_communication", "agents": [dict(s) for s in SEATS],
                "llm": {"backend": "fake"}},
        "sampling.k": 2, **extra,
    })


@contextmanager
def fake_training():
    """The pipeline trains with a ``FakeTraining`` (yielded) and takes model names as they are."""
    training = FakeTraining()
    with mock.patch.object(pipeline, "train_lora", training), mock.patch.object(pipeline, "resolve_model", str):
        yield training


def run_experiment(out: Path, **extra) -> Path:
    """A whole experiment of ``small_config`` (with ``extra``) into ``out``; its markdown summary."""
    with fake_training():
        return asyncio.run(pipeline.run_experiment(small_config(out, **extra), progress=False, pool=Pool()))
