"""Make ``baseline_events.jsonl``: the events of recorded configs, run through the runner.

``tests/test_institutions.py`` re-runs the same cases and compares the events (timing keys
stripped): each config must give the same events as when it was recorded, through the
month becoming pluggable phases (issue 14) and the reshaping of the house (issue 15).
Re-make the file only for a change meant to alter those events:

    .venv/bin/python tests/data/make_baseline_events.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from govsim import config, runner  # noqa: E402
from govsim.config import LLMConfig  # noqa: E402
from govsim.llm import LLMPool  # noqa: E402
from govsim.llm.fake import FakeLLM  # noqa: E402
from govsim.runlog import read_run, strip_timing  # noqa: E402

FILE = Path(__file__).with_name("baseline_events.jsonl")

# A generative society's replies by purpose (the fake backend): a limit is agreed, the talk goes on.
REPLIES = {
    "harvest": "If we all take 10 the lake recovers.",
    "harvest_amount": "10",
    "importance": "4",
    "converse": " Let us keep to 10 each.\n",
    "converse_end": "no",
    "converse_next": "Kate",
    "summarize": "Everyone agreed to take 10 tons each.",
    "summarize_limit": "They said 10 each. Answer: 10",
    "reflect": "1. Taking 10 each keeps the lake full (because of 1, 2)",
    "think_plan": "We agreed to take at most 10 tons each.",
    "think_memorize": "Kate spoke first.",
    "agenda": " Ten each keeps the lake full.\n",
    "agenda_limit": "10",
    "vote": "Kate",
    "sanction": "yes",
}


def reply(request: Any) -> str:
    return REPLIES.get(request.tag_dict.get("purpose"), "5")


# name: (experiment, overrides); `agents` as --agents takes it.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sustainable4_greedy_3m": ("default", {"agents": "sustainable*4,greedy", "months": 3}),
    "no_communication": ("no_communication", {"agents": "conditional*4,fixed", "months": 4, "seed": 2}),
    "greedy_newcomer": ("greedy_newcomer", {"agents": "sustainable*4,greedy", "seed": 1}),
    "conditional_fixed_12m": ("default", {"agents": "conditional*4,fixed", "seed": 6}),
    "ring_network": ("default", {"agents": "sustainable*3,conditional*2", "network": "ring", "months": 4, "seed": 5}),
    "improved_universalization": (
        "universalization", {"agents": "sustainable*3,fixed*2", "profile": "improved", "months": 3, "seed": 4},
    ),
    "pasture_proportional": (
        "default", {"scenario": "pasture", "agents": "greedy*2,sustainable*2", "allocation": "proportional", "months": 2},
    ),
    "generative_fake": ("default", {"agents": "generative*3", "months": 2, "llm.backend": "fake", "seed": 3}),
    "generative_fake_no_communication": (
        "no_communication", {"agents": "generative*2", "months": 2, "llm.backend": "fake"},
    ),
    "scripted_institutions": (
        "default", {"agents": "sustainable*4,greedy", "months": 4, "seed": 7, "institutions": ["election", "sanctions"]},
    ),
    "generative_fake_institutions": (
        "default", {"agents": "generative*3", "months": 2, "llm.backend": "fake", "seed": 3,
                    "institutions": ["election", "sanctions"]},
    ),
}


def case_config(name: str, extra: dict[str, Any] | None = None) -> config.RunConfig:
    experiment, overrides = CASES[name]
    cfg = config.resolve(experiment, overrides={**overrides, **(extra or {})})
    for seat in cfg.agents:
        if seat.type == "generative":
            seat.params = {"embedder": "hash", **seat.params}  # the same memories on every machine
    return cfg


def run_case(name: str, directory: Path, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The case's events, timing keys stripped (``extra``: more overrides, e.g. an empty institutions list)."""
    cfg = case_config(name, extra)
    fake = FakeLLM(reply)
    runner.run(cfg, directory, resume=False, pool=LLMPool(LLMConfig(backend="fake"), factory=lambda *a: fake))
    data = read_run(directory)
    if data.problems:
        raise RuntimeError(f"case {name}: {data.problems}")
    return [strip_timing(e) for e in data.events]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, FILE.open("w") as out:
        for name in CASES:
            for event in run_case(name, Path(tmp) / name):
                out.write(json.dumps({"case": name, "event": event}, sort_keys=True) + "\n")
    print(f"wrote {FILE}")


if __name__ == "__main__":
    main()
