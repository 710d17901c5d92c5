"""Run logs: determinism, resume after a kill, damaged logs, agent errors."""

import asyncio
import json

import pytest

import agents
from agents.scripted import Sustainable
from govsim import config, runner
from govsim.events import FORMAT_VERSION
from govsim.runlog import EVENTS_FILE, read_run, strip_timing


def events_of(path):
    return [strip_timing(e) for e in read_run(path).events]


def test_same_config_and_seed_give_identical_events(tmp_path):
    cfg = config.resolve(overrides={"agents": "random*3,sustainable*2", "seed": 7})
    runner.run(cfg, tmp_path / "a")
    runner.run(cfg, tmp_path / "b")
    assert events_of(tmp_path / "a") == events_of(tmp_path / "b")
    other = config.resolve(overrides={"agents": "random*3,sustainable*2", "seed": 8})
    runner.run(other, tmp_path / "c")
    assert events_of(tmp_path / "a") != events_of(tmp_path / "c")


class Crash(Exception):
    pass


def test_a_killed_run_resumes_to_the_same_events(tmp_path, monkeypatch):
    cfg = config.resolve(overrides={"agents": "conditional*4,fixed", "seed": 3, "regeneration.rule": "stochastic"})
    runner.run(cfg, tmp_path / "clean")

    calls = {"n": 0}
    original = runner.Episode._act

    async def dying_act(self, *args):
        calls["n"] += 1
        if calls["n"] == 20:  # in month 3 (8 steps a month)
            raise Crash()
        return await original(self, *args)

    monkeypatch.setattr(runner.Episode, "_act", dying_act)
    with pytest.raises(Crash):
        runner.run(cfg, tmp_path / "killed")
    monkeypatch.setattr(runner.Episode, "_act", original)
    # a half-written last line, as a kill in the middle of a write leaves it
    with open(tmp_path / "killed" / EVENTS_FILE, "ab") as fh:
        fh.write(b'{"v": 1, "seq": 9')
    assert read_run(tmp_path / "killed").summary is None
    result = runner.run(cfg, tmp_path / "killed")
    def unnumbered(path):  # the run_resumed marker shifts later sequence numbers by one
        return [{k: v for k, v in e.items() if k != "seq"} for e in events_of(path) if e["type"] != "run_resumed"]

    assert unnumbered(tmp_path / "killed") == unnumbered(tmp_path / "clean")
    seqs = [e["seq"] for e in events_of(tmp_path / "killed")]
    assert seqs == list(range(len(seqs)))
    assert result.summary["counters"]["resumed"] == 1
    assert result.summary["metrics"] == read_run(tmp_path / "clean").summary["metrics"]


def test_finished_runs_are_skipped_and_restart_starts_over(tmp_path):
    cfg = config.resolve(overrides={"agents": "sustainable*2", "months": 2})
    first = runner.run(cfg, tmp_path / "r")
    again = runner.run(cfg, tmp_path / "r")
    assert again.skipped and again.summary["metrics"] == first.summary["metrics"]
    restarted = runner.run(cfg, tmp_path / "r", resume=False)
    assert not restarted.skipped and events_of(tmp_path / "r")[0]["type"] == "run_started"


def test_damaged_logs_are_read_as_far_as_valid(tmp_path):
    cfg = config.resolve(overrides={"agents": "sustainable*2", "months": 2})
    runner.run(cfg, tmp_path / "r")
    path = tmp_path / "r" / EVENTS_FILE
    lines = path.read_text().splitlines()
    lines.insert(3, '{"v": 1, "seq": 99, "type": "from_a_plugin"}')
    path.write_text("\n".join(lines) + '\n{"trunc')
    (tmp_path / "r" / "summary.json").unlink()
    run = read_run(tmp_path / "r")
    assert len(run.events) == len(lines)
    text = " ".join(run.problems)
    assert "truncated" in text and "from_a_plugin" in text and "summary is missing" in text


@agents.register("test-raiser")
class Raiser(Sustainable):
    async def act(self, observation, info):
        if info["phase"] == "harvest" and info["month"] == 2:
            raise ValueError("boom")
        return await super().act(observation, info)


def test_an_agent_that_raises_is_recorded_and_counted(tmp_path):
    cfg = config.resolve(overrides={"agents": "test-raiser,sustainable", "months": 3})
    summary = runner.run(cfg, tmp_path / "r").summary
    errors = read_run(tmp_path / "r").of_type("agent_error")
    assert len(errors) == 1 and "boom" in errors[0]["error"] and errors[0]["agent"] == "John"
    assert summary["counters"]["agent_errors"] == 1
    assert summary["counters"]["invalid_actions"] == 1  # its missing harvest, recorded by the env


def test_many_episodes_run_concurrently(tmp_path):
    jobs = [(config.resolve(overrides={"agents": "random*5", "seed": s}), tmp_path / f"s{s}") for s in range(4)]
    results = asyncio.run(runner.run_episodes(jobs))
    assert [r.config.seed for r in results] == [0, 1, 2, 3]
    assert all((tmp_path / f"s{s}" / "summary.json").exists() for s in range(4))
    summary = json.loads((tmp_path / "s0" / "summary.json").read_text())
    assert summary["format"] == "govsim-run" and summary["format_version"] == FORMAT_VERSION == 2
