"""The run log as a contract: the schema, when agent events are stamped, failing loudly,
damaged logs and summaries, version-1 logs, resuming over a shortened log.

Every log here is made by running episodes through the runner (scripted agents, or
generative agents on the fake backend); damage is done to those real logs.
"""

import asyncio
import json

import pytest
from typer.testing import CliRunner

from govsim import config, events, runner
from govsim.cli import app
from govsim.config import LLMConfig
from govsim.llm import LLMPool
from govsim.llm.base import LLMError
from govsim.llm.fake import FakeLLM
from govsim.runlog import EVENTS_FILE, SUMMARY_FILE, RunWriter, read_run, strip_timing


def by_purpose(request):
    purpose = request.tag_dict.get("purpose")
    return {
        "harvest": "I will take a little. Answer: 7 tons.",
        "converse": "Response: Let us take 7 each.\nConversation conclusion by me: no\nNext speaker: Kate",
        "summarize": "Summary: They agreed on 7 each.\nLimit: 7 tons",
    }.get(purpose, "Rating: 4")


def fake_pool(script=by_purpose):
    return LLMPool(LLMConfig(backend="fake"), factory=lambda *a: FakeLLM(script))


def generative_run(tmp_path, months=2, **overrides):
    cfg = config.resolve(
        overrides={"agents": "generative*3", "months": months, "llm.backend": "fake", **overrides}
    )
    for seat in cfg.agents:
        seat.params = {"embedder": "hash"}
    return runner.run(cfg, tmp_path / "g", pool=fake_pool())


def test_agent_events_carry_the_month_and_phase_they_acted_in(tmp_path):
    generative_run(tmp_path)
    run = read_run(tmp_path / "g")
    assert run.problems == []
    calls = run.of_type("llm_call")
    assert calls and all(e["v"] == events.FORMAT_VERSION for e in run.events)
    phase_of = {"harvest": {"harvest"}, "converse": {"discussion"}, "summarize": {"summary"}, "reflect": {"reflection"}}
    seen = set()
    for call in calls:
        # the identity is top-level, not only inside tags
        assert call["purpose"] == call["tags"]["purpose"] and call["attempt"] == call["tags"]["attempt"]
        assert call["month"] == call["tags"]["month"] and call["agent"] == call["tags"]["agent"]
        if call["purpose"] in phase_of:
            assert call["phase"] in phase_of[call["purpose"]], call["purpose"]
            seen.add((call["purpose"], call["month"]))
    assert {("harvest", 1), ("harvest", 2), ("reflect", 1), ("summarize", 1)} <= seen
    # a month-1 reflection is logged in month 1, before month 2 starts
    second = next(e["seq"] for e in run.events if e["type"] == "month_started" and e["month"] == 2)
    assert all(c["seq"] < second for c in calls if c["purpose"] == "reflect" and c["month"] == 1)


def test_every_event_of_a_real_run_fits_the_schema(tmp_path):
    generative_run(tmp_path)
    runner.run(config.resolve(overrides={"agents": "sustainable*4,greedy", "months": 3}), tmp_path / "s")
    for name in ("g", "s"):
        for line in (tmp_path / name / EVENTS_FILE).read_text().splitlines():
            event = json.loads(line)
            assert event["type"] in events.EVENTS and events.problems(event) == [], event


def test_the_writer_refuses_an_event_that_breaks_the_schema(tmp_path):
    writer = RunWriter(tmp_path / "w")
    writer.open({"x": 1})
    with pytest.raises(ValueError, match="'harvest' event breaks the schema.*caught"):
        writer.append({"type": "harvest", "month": 1, "phase": "harvest", "agent": "A", "wanted": 3, "threshold": 1})
    writer.append({"type": "from_a_plugin", "anything": [1]})  # other types are a plugin's own
    writer.close()


def test_an_unencodable_utterance_is_logged_not_fatal(tmp_path):
    writer = RunWriter(tmp_path / "w")
    writer.open({"x": 1})
    writer.append({"type": "reflection", "month": 1, "phase": "reflection", "agent": "A", "text": "ok \ud800 end"})
    writer.close()
    (event,) = read_run(tmp_path / "w").events
    assert event["text"].startswith("ok ") and event["text"].endswith(" end")


def test_damaged_events_and_summaries_are_problems_never_raised(tmp_path):
    runner.run(config.resolve(overrides={"agents": "sustainable*2", "months": 2}), tmp_path / "r")
    path = tmp_path / "r" / EVENTS_FILE
    good = len(path.read_text().splitlines())
    with open(path, "a") as fh:
        fh.write('{"v":"1"}\n')
        fh.write('{"v": 2, "seq": 500, "type": "harvest", "month": 1, "phase": "harvest", "agent": "John"}\n')
        fh.write("[1, 2]\n")
    summary = json.loads((tmp_path / "r" / SUMMARY_FILE).read_text())
    summary["metrics"] = [1, 2]
    (tmp_path / "r" / SUMMARY_FILE).write_text(json.dumps(summary))
    run = read_run(tmp_path / "r")
    assert len(run.events) == good
    text = " | ".join(run.problems)
    assert "'v' should be int" in text and "missing 'wanted'" in text and "not valid JSON" in text
    assert run.summary is None and "summary is damaged" in text and not run.valid
    summary["metrics"] = {"survived": "yes"}
    (tmp_path / "r" / SUMMARY_FILE).write_text(json.dumps(summary))
    assert "metrics.survived should be bool" in " ".join(read_run(tmp_path / "r").problems)


def test_version_1_logs_are_read_and_upgraded(tmp_path):
    generative_run(tmp_path)
    path = tmp_path / "g" / EVENTS_FILE
    old = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        event["v"] = 1
        if event["type"] == "llm_call":  # version 1 held the identity only in tags
            for key in events.CALL_IDENTITY:
                event.pop(key, None)
        old.append(json.dumps(event))
    path.write_text("\n".join(old) + "\n")
    run = read_run(tmp_path / "g")
    assert run.problems == []
    assert all(c["purpose"] == c["tags"]["purpose"] for c in run.of_type("llm_call"))


class Broken(FakeLLM):
    async def complete(self, request):
        raise LLMError("the model folder /nowhere does not exist")


def test_a_model_that_never_answers_is_a_failed_run(tmp_path):
    cfg = config.resolve(overrides={"agents": "generative*2", "months": 2, "llm.backend": "fake"})
    for seat in cfg.agents:
        seat.params = {"embedder": "hash"}
    pool = LLMPool(LLMConfig(backend="fake"), factory=lambda *a: Broken())
    result = runner.run(cfg, tmp_path / "b", pool=pool)
    assert result.summary["valid"] is False and "in a row failed" in result.summary["invalid_reason"]
    run = read_run(tmp_path / "b")
    (failed,) = run.of_type("run_failed")
    assert failed["failed_calls"] >= cfg.llm.fail_after and not run.valid
    assert not RunWriter(tmp_path / "b").finished  # running it again tries again


def test_a_month_where_most_calls_fail_stops_the_run(tmp_path):
    calls = iter(range(10**6))

    def flaky(request):
        if next(calls) % 3:  # two of every three calls fail, never five in a row
            raise LLMError("flaky server")
        return by_purpose(request)

    class Flaky(FakeLLM):
        async def complete(self, request):
            return await super().complete(request)

    cfg = config.resolve(overrides={"agents": "generative*2", "months": 3, "llm.backend": "fake"})
    for seat in cfg.agents:
        seat.params = {"embedder": "hash"}
    pool = LLMPool(LLMConfig(backend="fake"), factory=lambda *a: Flaky(flaky))
    result = runner.run(cfg, tmp_path / "f", pool=pool)
    assert result.summary["valid"] is False and "of the month's LLM calls failed" in result.summary["invalid_reason"]


def test_the_cli_exits_non_zero_with_one_line_for_a_failed_run(tmp_path):
    # the outside tester's command: a model folder that does not exist is refused before anything runs
    out = CliRunner().invoke(
        app, ["run", "--agents", "generative*2", "--backend", "transformers", "--model", "/nonexistent/model",
              "--months", "1", "--out", str(tmp_path / "path"), "--no-progress"],
    )
    assert out.exit_code == 2 and "model /nonexistent/model does not exist" in out.output
    assert not (tmp_path / "path").exists()
    # a hub name cannot be checked offline: the run fails loudly instead
    out = CliRunner().invoke(
        app, ["run", "--agents", "generative*2", "--backend", "transformers", "--model", "no-such-org/no-such-model",
              "--months", "1", "--out", str(tmp_path), "--no-progress"],
    )
    assert out.exit_code == 1, out.output
    errors = [line for line in out.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "marked invalid" in errors[0]
    assert read_run(tmp_path / "seed0").summary["valid"] is False


def test_resume_over_a_shortened_log_restarts_cleanly(tmp_path, capsys):
    cfg = config.resolve(overrides={"agents": "sustainable*3", "months": 4})

    def kill_in_month_3(_cfg, month):
        if month == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(runner.run_episodes([(cfg, tmp_path / "r")], on_month=kill_in_month_3))
    path = tmp_path / "r" / EVENTS_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # someone cut the log short
    result = runner.run(cfg, tmp_path / "r")
    assert "the log was shortened, so the run starts over" in capsys.readouterr().err
    raw = path.read_bytes()
    assert b"\x00" not in raw
    clean = runner.run(cfg, tmp_path / "clean")
    assert [strip_timing(e) for e in read_run(tmp_path / "r").events] == [
        strip_timing(e) for e in read_run(tmp_path / "clean").events
    ]
    assert result.summary["metrics"] == clean.summary["metrics"] and result.summary["counters"]["resumed"] == 0


def test_the_model_identity_is_in_meta_and_summary(tmp_path):
    result = generative_run(tmp_path)
    meta = json.loads((tmp_path / "g" / "meta.json").read_text())
    assert result.summary["model_id"] == "fake:embedded"
    assert meta["models"][0]["backend"] == "fake" and meta["format_version"] == events.FORMAT_VERSION
    scripted = runner.run(config.resolve(overrides={"agents": "sustainable*2", "months": 1}), tmp_path / "s")
    assert scripted.summary["model_id"] is None


def test_identical_runs_differ_only_in_timing_and_scheduling(tmp_path):
    generative_run(tmp_path)
    first = [strip_timing(e) for e in read_run(tmp_path / "g").events]
    (tmp_path / "g").rename(tmp_path / "first")
    generative_run(tmp_path)
    assert [strip_timing(e) for e in read_run(tmp_path / "g").events] == first


def test_the_schema_describes_itself():
    table = events.describe()
    assert table.count("\n") == len(events.EVENTS) + 1 and "| llm_call |" in table


def test_the_schema_command_prints_every_type():
    out = CliRunner().invoke(app, ["schema"])
    assert out.exit_code == 0 and all(f"| {name} |" in out.output for name in events.EVENTS)
