"""The fixture runs the web tests share: every one an episode played through ``govsim.runner``
(scripted agents, or generative agents on the fake backend answering from a script);
damaged runs are those runs broken afterwards the way real runs break. ``conftest.py``
builds them once per session as the ``fixture_root`` fixture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import rerest_runs

from govsim.config import resolve
from govsim.llm.fake import FakeLLM
from govsim.llm.pool import LLMPool
from govsim.rerest import results
from govsim.runner import run as run_episode

NAMES = ("John", "Kate", "Jack", "Emma", "Luke")
# Damaged copies of one finished scripted run: how each is broken, and the problem shown.
DAMAGED = {
    "truncated": "the last line is truncated",
    "unknown_type": "unknown event type(s) weather",
    "no_config": "config is missing",
    "garbage": "line 6 is not valid JSON",
    "no_events": "events are missing",
    "bad_line": "line 5 (None)",
    "list_field": "summary is damaged",
    "survived_text": "metrics.survived",
    "links_out": "events.jsonl links outside the dashboard's folder",
}
REAL_MODEL_ID = "vllm:SmolLM2-135M-Instruct@1a2b3c4d"
REPLIES = {
    "importance": "Rating: 4",
    "converse_end": "no",
    "summarize": "Everyone agreed to take at most 10 tons each.",
    "summarize_limit": "10",
    "reflect": "1. Taking 10 each keeps the lake full (because of 1, 2)\n2. Kate listens (because of 3)",
}
OTHER_REPLY = "We should all keep to 10 tons each."  # any other request: one plain sentence


def scripted_reply(request) -> str:
    """The fake model's replies: sensible ones, plus one of each thing that goes wrong:
    Emma's first harvest amount holds no number (she is asked again), Luke's first
    reflection cannot be read (a parse failure and a fallback), and Jack's month-2 harvest
    call fails (an agent error, and so a missing harvest: an invalid action)."""
    tag = request.tag_dict
    agent, purpose, month, attempt = tag["agent"], tag["purpose"], tag["month"], tag["attempt"]
    if purpose.startswith("harvest") and agent == "Jack" and month == 2:
        raise RuntimeError("the model server went away")
    if purpose == "harvest":
        return "If we all take 10 tons the lake recovers."
    if purpose == "harvest_amount":
        return "" if (agent, month, attempt) == ("Emma", 1, 1) else "10"
    if purpose == "reflect" and agent == "Luke" and month == 1:
        return "lots of fish"
    if purpose == "converse":
        return f"{agent} here: let us keep to 10 tons each."
    if purpose == "converse_next":
        return NAMES[(NAMES.index(agent) + 1) % len(NAMES)]
    return REPLIES.get(purpose, OTHER_REPLY)


def failing_reply(request) -> str:
    raise RuntimeError("connection refused")


def make_run(directory: Path, agents: str, seed: int = 0, months: int = 4) -> Path:
    run_episode(resolve(overrides={"agents": agents, "seed": seed, "months": months}), directory)
    return directory


def make_llm_run(directory: Path, seed: int = 0, months: int = 3, reply=scripted_reply, seats: int = 5) -> Path:
    """Generative agents on the fake backend (``llm: {backend: fake}``), replying from ``reply``."""
    config = resolve(overrides={
        "seed": seed, "months": months, "llm": {"backend": "fake"},
        "agents": [{"name": n, "type": "generative", "params": {"embedder": "hash"}} for n in NAMES[:seats]],
    })
    pool = LLMPool(config.llm, factory=lambda backend, model, cfg, seed: FakeLLM(reply, model=model))
    run_episode(config, directory, pool=pool)
    return directory


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def edit_events(directory: Path, change) -> None:
    path = directory / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(e)) + "\n" for e in events))


def as_format_1(directory: Path) -> Path:
    """Rewrite a run's log as format 1 held it: an LLM call's purpose, attempt and seed
    only in its tags; no model id or profile; no decisions counter or validity in the summary."""

    def older(event: dict) -> dict:
        event["v"] = 1
        if event["type"] == "llm_call":
            for key in ("purpose", "attempt", "seed"):
                event.pop(key, None)
        if event["type"] == "run_started":
            event.pop("model_id", None)
            event.pop("profile", None)
        return event

    def older_summary(summary: dict) -> None:
        for key in ("valid", "invalid_reason", "model_id", "model_identity", "profile"):
            summary.pop(key, None)
        summary["counters"].pop("decisions", None)
        summary["format_version"] = 1

    edit_events(directory, older)
    edit_json(directory / "summary.json", older_summary)
    return directory


def damage(directory: Path, how: str, outside: Path) -> Path:
    """Break a finished run the way real runs break."""
    events = directory / "events.jsonl"
    lines = events.read_text().splitlines()
    if how == "truncated":  # killed mid-write: no summary, the last line cut in half
        (directory / "summary.json").unlink()
        raw = events.read_bytes()
        events.write_bytes(raw[: int(len(raw) * 0.6)])
    elif how == "unknown_type":
        with events.open("a") as fh:
            fh.write(json.dumps({"v": 2, "seq": 10_000, "type": "weather", "month": 1, "text": "storm"}) + "\n")
    elif how == "no_config":
        (directory / "config.json").unlink()
    elif how == "garbage":  # a broken line in the middle and an unreadable summary
        lines.insert(5, "{this is not json")
        events.write_text("\n".join(lines) + "\n")
        (directory / "summary.json").write_text("{")
    elif how == "no_events":
        events.unlink()
        (directory / "summary.json").unlink()
    elif how == "bad_line":  # valid JSON, but not an event
        lines.insert(4, json.dumps({"v": "1"}))
        events.write_text("\n".join(lines) + "\n")
    elif how == "list_field":
        edit_json(directory / "summary.json", lambda s: s.update(metrics=list(s["metrics"].values())))
    elif how == "survived_text":
        edit_json(directory / "summary.json", lambda s: s["metrics"].update(survived="yes"))
    elif how == "links_out":  # the log is a link to a file outside the dashboard's folder
        secret = outside / "secret.jsonl"
        shutil.move(events, secret)
        events.symlink_to(secret)
    return directory


RUNS = 22  # every run folder build_root makes
FINISHED = 12  # of which finished cleanly
LONG_MONTHS = 12


def make_rerest(directory: Path, run: Path) -> Path:
    """The result files of a 2-iteration Re-ReST experiment run through the pipeline
    (``rerest_runs``: fake backend, stand-in training) in ``run``, copied into ``directory``
    without the experiment's own episode folders, which would count as more runs."""
    rerest_runs.run_experiment(run, iterations=2)
    directory.mkdir()
    for name in results.FILES:
        if (run / name).is_file():
            shutil.copy(run / name, directory / name)
    return directory


def build_root(root: Path, outside: Path) -> Path:
    """The fixture run folder: sweep/{fair,greedy}/seed*, llm/seed0 (generative agents on
    the fake backend) and its format-1 copy v1/seed0, long/seed0 (the same over 12 months),
    institutions/seed0 (scripted agents with an election and sanctions: event types the
    dashboard has no layout for), models/{fake,real} (the same model name on two
    backends), stopped/seed0 (every call failed), damaged/*, rerest/ (``make_rerest``).
    ``outside`` is a folder beside the root, for links pointing out of it."""
    for seed in range(3):
        make_run(root / "sweep" / "fair" / f"seed{seed}", "sustainable*5", seed)
    for seed in range(2):
        make_run(root / "sweep" / "greedy" / f"seed{seed}", "sustainable*4,greedy", seed)
    make_llm_run(root / "llm" / "seed0")
    make_llm_run(root / "long" / "seed0", months=LONG_MONTHS)
    run_episode(resolve(overrides={"agents": "sustainable*4,greedy", "months": 3,
                                   "institutions": ["election", "sanctions"]}), root / "institutions" / "seed0")
    as_format_1(Path(shutil.copytree(root / "llm" / "seed0", root / "v1" / "seed0")))
    for seed in range(2):
        make_llm_run(root / "models" / "fake" / f"seed{seed}", seed=seed, months=2, seats=2)
    real = make_llm_run(root / "models" / "real" / "seed0", months=2, seats=2)
    # no real engine offline: the run's summary names one, as a vLLM run's would
    edit_json(real / "summary.json", lambda s: s.update(model_id=REAL_MODEL_ID))
    make_llm_run(root / "stopped" / "seed0", months=2, seats=2, reply=failing_reply)
    template = make_run(root / "template", "sustainable*4,conditional", months=3)
    for how in DAMAGED:
        damage(Path(shutil.copytree(template, root / "damaged" / how)), how, outside)
    shutil.rmtree(template)
    make_rerest(root / "rerest", outside / "rerest-run")
    (outside / "notes.csv").write_text("secret,value\nkey,hunter2\n")
    (outside / "run").mkdir()
    shutil.copy(root / "sweep" / "fair" / "seed0" / "config.json", outside / "run" / "config.json")
    return root
