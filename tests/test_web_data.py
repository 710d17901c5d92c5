"""The dashboard's data layer (web/data.py) on fixture runs, and the fixture runs the
other web tests share: a small sweep, a run with LLM-agent events, damaged runs of every
kind, and a Re-ReST summary.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from govsim import metrics
from govsim.config import resolve
from govsim.runlog import read_run
from govsim.runner import run as run_episode
from web import data

MODEL = "SmolLM2-135M-Instruct"
DAMAGED = ("truncated", "unknown_type", "no_config", "garbage", "no_events")


def make_run(directory: Path, agents: str, seed: int = 0, months: int = 4) -> Path:
    run_episode(resolve(overrides={"agents": agents, "seed": seed, "months": months}), directory)
    return directory


def _write_events(directory: Path, events: list[dict]) -> None:
    for seq, event in enumerate(events):
        event["seq"] = seq
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def add_llm_events(directory: Path) -> Path:
    """Give a scripted run the events an LLM agent adds: calls, a parse failure, a
    fallback, memories, insights, plus an invalid action and an agent error; the summary's
    counters are recomputed so they match."""
    out: list[dict] = []
    for event in read_run(directory).events:
        out.append(event)
        kind, month, agent = event["type"], event.get("month"), event.get("agent")
        where = {"v": 1, "month": month, "phase": event.get("phase"), "ts": event.get("ts")}
        if kind == "month_started":
            for name in event["agents"]:
                out.append({**where, "type": "llm_call", "agent": name, "purpose": "harvest", "backend": "fake",
                            "model": MODEL, "prompt_tokens": 120, "completion_tokens": 4, "latency_s": 0.25,
                            "messages": [{"role": "system", "content": f"You are {name}, a fisherman."},
                                         {"role": "user", "content": f"Month {month}: how many tons do you catch?"}],
                            "text": f"I catch 10 tons (reply of {name} in month {month})"})
                out.append({**where, "type": "memory", "agent": name, "kind": "observation",
                            "text": f"{name} remembers the lake held {event['stock']} tons in month {month}",
                            "importance": 3 + month})
        elif kind == "harvest_done" and month == 2:
            out.append({**where, "type": "invalid_action", "agent": "Kate", "key": "harvest", "value": 500,
                        "fix": "out of range [0, 100]; clipped to 100"})
            out.append({**where, "type": "agent_error", "agent": "Jack", "error": "RuntimeError: the model server went away"})
        elif kind == "summary" and month == 1:
            out.append({**where, "type": "parse_failure", "agent": "Kate", "purpose": "summary",
                        "text": "lots of fish", "attempts": 3})
            out.append({**where, "type": "fallback", "agent": "Kate", "purpose": "summary", "used": -1,
                        "reason": "no limit could be read"})
        elif kind == "reflection":
            out.append({**where, "type": "insight", "agent": agent,
                        "text": f"{agent} learns to leave fish for month {month + 1}"})
    _write_events(directory, out)
    summary = json.loads((directory / "summary.json").read_text())
    summary["counters"] = metrics.counters(out)
    summary["model"] = MODEL
    (directory / "summary.json").write_text(json.dumps(summary))
    return directory


def damage(directory: Path, how: str) -> Path:
    """Break a finished run the way real runs break."""
    events = directory / "events.jsonl"
    if how == "truncated":  # killed mid-write: no summary, the last line cut in half
        (directory / "summary.json").unlink()
        raw = events.read_bytes()
        events.write_bytes(raw[: int(len(raw) * 0.6)])
    elif how == "unknown_type":
        with events.open("a") as fh:
            fh.write(json.dumps({"v": 1, "seq": 10_000, "type": "weather", "month": 1, "text": "storm"}) + "\n")
    elif how == "no_config":
        (directory / "config.json").unlink()
    elif how == "garbage":  # a broken line in the middle and an unreadable summary
        lines = events.read_text().splitlines()
        lines.insert(5, "{this is not json")
        events.write_text("\n".join(lines) + "\n")
        (directory / "summary.json").write_text("{")
    elif how == "no_events":
        events.unlink()
        (directory / "summary.json").unlink()
    return directory


# What govsim.rerest writes: the base model at iteration 0, then each method per iteration
# (the header written out here, not taken from web.data).
REREST_CSV = (
    "iteration,method,runs,survival_rate,survival_rate_ci,survival_time,survival_time_ci,gain,gain_ci,"
    "efficiency,efficiency_ci,sample_pass_rate,reflection_pass_rate\n"
    "0,base,5,20.0,10.0,3.5,1.2,30.0,5.0,0.25,0.05,0.40,\n"
    "1,self_training,5,40.0,15.0,6.0,1.5,55.0,6.0,0.46,0.06,0.55,\n"
    "1,rerest,5,60.0,12.0,8.5,1.1,80.0,4.0,0.67,0.04,0.70,0.62\n"
    "2,self_training,5,50.0,14.0,7.0,1.4,62.0,5.5,0.52,0.05,0.58,\n"
    "2,rerest,5,80.0,10.0,10.5,0.9,98.0,3.5,0.82,0.03,0.81,0.74\n"
)


def build_root(root: Path) -> Path:
    """The fixture run folder: sweep/{fair,greedy}/seed*, llm/seed0, damaged/*, rerest/."""
    for seed in range(3):
        make_run(root / "sweep" / "fair" / f"seed{seed}", "sustainable*5", seed)
    for seed in range(2):
        make_run(root / "sweep" / "greedy" / f"seed{seed}", "sustainable*4,greedy", seed)
    add_llm_events(make_run(root / "llm" / "seed0", "sustainable*4,conditional", months=3))
    template = make_run(root / "template", "sustainable*4,conditional", months=3)
    for how in DAMAGED:
        damage(Path(shutil.copytree(template, root / "damaged" / how)), how)
    shutil.rmtree(template)
    (root / "rerest").mkdir()
    (root / "rerest" / data.REREST_FILE).write_text(REREST_CSV)
    return root


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def fixture_root(tmp_path_factory) -> Path:
    """Built once per session, though each web test module imports the fixture."""
    if "root" not in _BUILT:
        _BUILT["root"] = build_root(tmp_path_factory.mktemp("web_runs"))
    return _BUILT["root"]


# ---------------------------------------------------------------------------- tests


def test_runs_table_gives_each_run_its_status(fixture_root):
    table = data.runs_table(fixture_root).set_index("name")
    assert table.loc["sweep/fair/seed0", "status"] == data.FINISHED
    assert table.loc["llm/seed0", "status"] == data.FINISHED
    assert table.loc["llm/seed0", "parse_failures"] == 1 and table.loc["llm/seed0", "model"] == MODEL
    for how in DAMAGED:
        assert table.loc[f"damaged/{how}", "status"] == data.DAMAGED, how
    assert "truncated" in table.loc["damaged/truncated", "problems"]
    assert table.loc["sweep/greedy/seed0", "months"] == 1 and table.loc["sweep/fair/seed1", "months"] == 4


def test_unfinished_run_is_not_damaged(fixture_root, tmp_path):
    run_dir = Path(shutil.copytree(fixture_root / "sweep" / "fair" / "seed0", tmp_path / "r"))
    (run_dir / "summary.json").unlink()
    assert data.status(read_run(run_dir)) == data.UNFINISHED


def test_month_frame_and_harvests(fixture_root):
    run = read_run(fixture_root / "sweep" / "greedy" / "seed0")
    months = data.month_frame(run.events)
    assert months["month"].tolist() == [1] and months["stock"].iloc[0] == 100
    assert months["sustainable_total"].iloc[0] == 50 and bool(months["collapsed"].iloc[0])
    harvests = data.harvest_frame(run.events)
    assert harvests.loc[harvests["agent"] == "Luke", "above_f(h)"].all()
    fair = data.month_frame(read_run(fixture_root / "sweep" / "fair" / "seed0").events)
    assert fair["agreed_limit"].tolist() == [10, 10, 10, 10]


def test_llm_event_tables(fixture_root):
    events = read_run(fixture_root / "llm" / "seed0").events
    assert len(data.llm_frame(events)) == 15  # five agents, three months
    assert data.issue_counts(events) == {"parse_failure": 1, "fallback": 1, "invalid_action": 1, "agent_error": 1}
    assert len(data.notes_frame(events, "memory")) == 15 and len(data.notes_frame(events, "insight")) == 15
    assert "clipped to 100" in data.issues_frame(events)["detail"].str.cat()


def test_groups_are_labelled_by_the_keys_that_differ(fixture_root):
    frame = data.runs_table(fixture_root / "sweep")
    grouped, keys = data.with_groups(frame, ["scenario", "experiment", "agents"])
    assert keys == ["agents"] and set(grouped["group"]) == {"sustainable*5", "sustainable*4,greedy"}
    grouped, keys = data.with_groups(frame, [])
    assert keys == ["group"] and set(grouped["group"]) == {"all runs"}


def test_rerest_reader_reports_bad_files(fixture_root, tmp_path):
    frame, problems = data.read_rerest(fixture_root / "rerest" / data.REREST_FILE)
    assert problems == [] and set(frame["method"]) == {"base", "self_training", "rerest"}
    bad = tmp_path / data.REREST_FILE
    bad.write_text("iteration,method,gain\n1,rerest,lots\n")
    frame, problems = data.read_rerest(bad)
    assert any("lacks column" in p for p in problems) and any("not numbers" in p for p in problems)
    assert pd.isna(frame["gain"].iloc[0])
