"""Every dashboard page under Streamlit's AppTest, on fixture runs including damaged ones:
what a user sees, and never an exception on the page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from test_web_data import DAMAGED, fixture_root  # noqa: F401  (the shared fixture runs)
from web import data

APP = Path(__file__).resolve().parents[1] / "web" / "app.py"


def open_page(root: Path, page: str, run: str | None = None) -> AppTest:
    """The app over ``root`` showing one page (and run), checked to have raised nothing."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["root"] = str(root)
    at.run()
    if run:
        at.query_params["run"] = run
    if page != "runs":
        at.switch_page(f"views/{page}.py").run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "could not be shown" in e.value]


def texts(at: AppTest) -> str:
    """All visible text of the page, for asserting on."""
    parts = [el.value for kind in ("title", "subheader", "markdown", "caption", "text", "info", "warning", "error",
                                   "success") for el in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [e.label for e in at.expander]
    parts += [c.value for c in at.code]
    return "\n".join(map(str, parts))


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


# ---------------------------------------------------------------------------- Runs


def test_runs_page_lists_every_run_with_its_status(fixture_root):
    at = open_page(fixture_root, "runs")
    table = at.dataframe[0].value
    assert len(table) == 11 and {"sweep/fair/seed0", "llm/seed0", "damaged/truncated"} <= set(table["name"])
    assert dict(zip(table["name"], table["status"]))["damaged/garbage"] == "damaged"
    shown = texts(at)
    assert "Runs 11" in shown and "Finished 6" in shown and "Damaged 5" in shown
    assert "5 run(s) have damaged logs" in shown
    at.multiselect(key="runs_status").set_value(["damaged"]).run()
    assert set(at.dataframe[0].value["status"]) == {"damaged"} and len(at.dataframe[0].value) == 5
    at.multiselect(key="runs_status").set_value([]).run()
    at.text_input(key="runs_search").set_value("greedy").run()
    assert list(at.dataframe[0].value["name"]) == ["sweep/greedy/seed0", "sweep/greedy/seed1"]
    assert_clean(at)


def test_pages_say_so_when_there_are_no_runs(tmp_path):
    for page in ("runs", "run", "compare", "network", "live"):
        at = open_page(tmp_path / "nothing_here", page)
        assert "does not exist" in texts(at), page
        at = open_page(tmp_path, page)
        assert "No runs under" in texts(at), page


# ---------------------------------------------------------------------------- Run


def test_run_page_shows_charts_timeline_memories_and_llm_calls(fixture_root):
    at = open_page(fixture_root, "run", "llm/seed0")
    shown = texts(at)
    assert at.selectbox(key="run_page_pick").value == "llm/seed0"
    assert charts(at) == 4  # stock, wanted vs caught, agreed limits, totals
    assert "SmolLM2-135M-Instruct" in shown and "Status finished" in shown and "Survived yes" in shown
    assert "1 parse failure, 1 fallback, 1 invalid action, 1 agent error" in shown
    # the timeline: harvest -> town hall -> summary -> reflections and insights, month by month
    for month in (1, 2, 3):
        assert f"### Month {month}" in shown
    assert "Mayor: here is what each fisherman caught this month." in shown
    assert "I propose that each of us takes at most 10 tons per month." in shown
    assert "agreed limit 10 per person" in shown and "Insights" in shown
    assert "learns to leave fish for month 2" in shown
    # problems are highlighted where they happened
    assert any("parse failure" in w.value and "lots of fish" in w.value for w in at.warning)
    assert any("agent error" in e.value and "model server went away" in e.value for e in at.error)
    # memories, insights, LLM calls (prompt and reply on demand), issues
    memories, insights = [df.value for df in at.dataframe if "importance" in df.value.columns]
    assert len(memories) == len(insights) == 15
    assert "John remembers the lake held 100 tons in month 1" in set(memories["text"])
    assert "#2 · month 1 · John · harvest · 120+4 tokens · 0.25 s" in shown
    assert "You are John, a fisherman." in shown and "I catch 10 tons (reply of John in month 1)" in shown
    issues = [df.value for df in at.dataframe if "detail" in df.value.columns][0]
    assert sorted(issues["type"]) == sorted(data.ISSUE_TYPES)


def test_run_page_timeline_shows_one_month_on_request(fixture_root):
    at = open_page(fixture_root, "run", "llm/seed0")
    at.selectbox(key="timeline_month").set_value(2).run()
    shown = texts(at)
    assert "### Month 2" in shown and "### Month 1" not in shown
    assert "clipped to 100" in shown  # month 2's invalid action


def test_the_chosen_run_follows_the_user_to_other_pages(fixture_root):
    at = open_page(fixture_root, "run", "llm/seed0")
    at.selectbox(key="run_page_pick").set_value("sweep/greedy/seed1").run()
    assert "seed 1" in at.caption[0].value and "Survived no" in texts(at)
    at.switch_page("views/network.py").run()
    assert at.selectbox(key="network_pick").value == "sweep/greedy/seed1"
    assert_clean(at)


EXPECTED_PROBLEM = {
    "truncated": "the last line is truncated",
    "unknown_type": "unknown event type(s) weather",
    "no_config": "config is missing",
    "garbage": "line 6 is not valid JSON",
    "no_events": "events are missing",
}


@pytest.mark.parametrize("how", DAMAGED)
def test_run_page_shows_what_is_valid_in_a_damaged_run(fixture_root, how):
    at = open_page(fixture_root, "run", f"damaged/{how}")
    warning = " ".join(w.value for w in at.warning)
    assert "damaged: showing what is valid" in warning and EXPECTED_PROBLEM[how] in warning
    shown = texts(at)
    if how == "no_events":
        assert "No months logged" in shown and charts(at) == 0
    else:
        assert charts(at) >= 3 and "### Month 1" in shown
    if how == "unknown_type":
        assert "Event of an unknown type 'weather'" in shown and "storm" in shown
    if how == "no_config":
        assert "config.json is missing or unreadable" in shown and "collapse line is drawn at the default" in shown


def test_an_unexpected_error_is_one_line_not_a_traceback(fixture_root, monkeypatch):
    def broken(events, kind):
        raise RuntimeError("boom")

    monkeypatch.setattr(data, "notes_frame", broken)  # used by the Memories tab only
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["root"] = str(fixture_root)
    at.run()
    at.switch_page("views/run.py").run()
    assert not at.exception
    assert [e.value for e in at.error if "could not be shown" in e.value][0].endswith("RuntimeError: boom")
    assert charts(at) == 4 and "### Month 1" in texts(at)  # the rest of the page is still there


# ---------------------------------------------------------------------------- Compare


def test_compare_page_table_survival_curves_and_distributions(fixture_root):
    at = open_page(fixture_root, "compare")
    at.selectbox(key="compare_folder").set_value("sweep").run()
    table = at.dataframe[0].value
    assert list(table["agents"]) == ["sustainable*4,greedy", "sustainable*5"]  # only the key that differs
    assert list(table["survival_rate"]) == [0.0, 100.0] and list(table["runs"]) == [2, 3]
    assert charts(at) == 2  # Kaplan-Meier and the distribution
    assert "| sustainable*5 | 3 | 100.00 ± 0.00 |" in texts(at)
    at.selectbox(key="compare_metric").set_value("gain").run()
    assert_clean(at)


def test_compare_page_on_chosen_runs_leaves_unfinished_ones_out(fixture_root):
    at = open_page(fixture_root, "compare")
    at.radio(key="compare_how").set_value("chosen runs").run()
    assert "Pick a folder or some runs" in texts(at)
    at.multiselect(key="compare_runs").set_value(["damaged/truncated", "sweep/fair/seed0"]).run()
    assert "1 of 2 runs are unfinished" in texts(at)
    assert len(at.dataframe[0].value) == 1 and charts(at) == 2
    at.multiselect(key="compare_by").set_value([]).run()  # no grouping: one group of all runs
    assert "all runs" in " ".join(at.dataframe[0].value.astype(str).values.ravel())
    assert_clean(at)


# ---------------------------------------------------------------------------- Network


def test_network_page_draws_who_addressed_whom(fixture_root):
    at = open_page(fixture_root, "network", "llm/seed0")
    assert charts(at) == 1
    edges = at.dataframe[0].value
    utterances = sum(1 for line in (fixture_root / "llm/seed0/events.jsonl").read_text().splitlines()
                     if json.loads(line)["type"] == "utterance")
    assert edges["times"].sum() == utterances  # every utterance names who speaks next
    nodes = at.dataframe[1].value
    assert set(nodes["agent"]) == {"John", "Kate", "Jack", "Emma", "Luke"}
    assert "Agreed limits: month 1: 10, month 2: 10, month 3: 10" in texts(at)
    at.slider(key="network_months").set_value((2, 2)).run()
    assert set(at.dataframe[0].value["months"]) == {"2"}


def test_network_page_without_talk_says_so(fixture_root):
    at = open_page(fixture_root, "network", "damaged/no_events")
    assert "Nobody spoke" in texts(at) and charts(at) == 0


# ---------------------------------------------------------------------------- Re-ReST


def test_rerest_page_table_and_curves(fixture_root):
    at = open_page(fixture_root, "rerest")
    assert len(at.dataframe[0].value) == 5 and charts(at) == len(data.REREST_METRICS)
    assert not at.warning


def test_rerest_page_on_a_broken_summary(tmp_path):
    (tmp_path / data.REREST_FILE).write_text("iteration,method,gain\n0,base,10\n1,rerest,oops\n")
    at = open_page(tmp_path, "rerest")
    assert "lacks column(s)" in texts(at) and "gain: 1 value(s) are not numbers" in texts(at)
    assert charts(at) == 1
    at.text_input(key="rerest_dir").set_value(str(tmp_path / "elsewhere")).run()
    assert "No rerest_summary.csv under" in texts(at)


# ---------------------------------------------------------------------------- Live


def test_live_page_follows_a_run_as_its_events_arrive(fixture_root, tmp_path):
    source = fixture_root / "sweep" / "fair" / "seed0"
    run = tmp_path / "live" / "seed0"
    run.mkdir(parents=True)
    shutil.copy(source / "config.json", run)
    lines = (source / "events.jsonl").read_text().splitlines(keepends=True)
    (run / "events.jsonl").write_text("".join(lines[:30]))
    at = open_page(tmp_path, "live")
    assert at.selectbox(key="live_pick").value == "live/seed0"  # the unfinished run is picked
    first = {m.label: m.value for m in at.metric}
    assert first["Status"] == "unfinished" and first["Month"] == "2" and charts(at) == 1
    assert "I propose that each of us takes at most 10 tons" in texts(at)
    with (run / "events.jsonl").open("a") as fh:
        fh.write("".join(lines[30:]))
    at.run()
    later = {m.label: m.value for m in at.metric}
    assert later["Month"] == "4" and int(later["Events"]) == len(lines) > int(first["Events"])
    shutil.copy(source / "summary.json", run)
    at.run()
    assert "This run has finished." in texts(at)
    assert_clean(at)


# ---------------------------------------------------------------------------- the command


def test_dashboard_command_rejects_a_missing_folder(tmp_path):
    from govsim.cli import app

    result = CliRunner().invoke(app, ["dashboard", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such directory" in result.output
