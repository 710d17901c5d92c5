"""Every dashboard page under Streamlit's AppTest, on fixture runs including damaged ones:
what a user sees, and never an exception on the page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from test_web_data import DAMAGED, REAL_MODEL_ID, RUNS, REREST_CSV, fixture_root  # noqa: F401  (shared fixture runs)
from govsim import report
from web import data, ui

APP = Path(__file__).resolve().parents[1] / "web" / "app.py"


@pytest.fixture
def open_page(monkeypatch):
    """Open the app started on ``root`` (as ``govsim dashboard ROOT`` does) at one page
    (and run, and a folder typed in the sidebar), checked to have raised nothing."""

    def opener(root: Path, page: str, run: str | None = None, folder: str | None = None) -> AppTest:
        monkeypatch.setenv(ui.ROOT_ENV, str(root))
        at = AppTest.from_file(str(APP), default_timeout=60)
        if folder is not None:
            at.session_state["root"] = folder
        at.run()
        if run:
            at.query_params["run"] = run
        if page != "runs":
            at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        return at

    return opener


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


def events_of(run_dir: Path, kind: str) -> list[dict]:
    return [e for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines()) if e["type"] == kind]


# ---------------------------------------------------------------------------- Runs


def test_runs_page_lists_every_run_with_its_status(fixture_root, open_page):
    at = open_page(fixture_root, "runs")
    table = at.dataframe[0].value
    assert len(table) == RUNS and {"sweep/fair/seed0", "llm/seed0", "damaged/truncated"} <= set(table["name"])
    status = dict(zip(table["name"], table["status"]))
    assert status["damaged/bad_line"] == status["damaged/list_field"] == status["damaged/survived_text"] == "damaged"
    assert status["models/real/seed0"] == "finished" and status["stopped/seed0"] == "invalid"
    problems = dict(zip(table["name"], table["problems"]))
    for how, problem in DAMAGED.items():
        assert problem in problems[f"damaged/{how}"], how
    shown = texts(at)
    assert f"Runs {RUNS}" in shown and "Finished 10" in shown and "Damaged 9" in shown and "Invalid 1" in shown
    assert "9 run(s) have damaged logs" in shown and "1 run(s) were stopped" in shown
    at.multiselect(key="runs_status").set_value(["damaged"]).run()
    assert set(at.dataframe[0].value["status"]) == {"damaged"} and len(at.dataframe[0].value) == 9
    at.multiselect(key="runs_status").set_value([]).run()
    at.text_input(key="runs_search").set_value("greedy").run()
    assert list(at.dataframe[0].value["name"]) == ["sweep/greedy/seed0", "sweep/greedy/seed1"]
    assert_clean(at)


def test_pages_say_so_when_there_are_no_runs(tmp_path, open_page):
    for page in ("runs", "run", "compare", "network", "live"):
        at = open_page(tmp_path / "nothing_here", page)
        assert "does not exist" in texts(at), page
        at = open_page(tmp_path, page)
        assert "No runs under" in texts(at), page


@pytest.mark.parametrize("page", ["runs", "run", "compare", "network", "live", "rerest"])
def test_a_folder_outside_the_root_is_refused_in_one_line(fixture_root, open_page, page):
    outside = fixture_root.parent / "outside"  # holds a run folder (a config.json) and a CSV
    for folder in ("..", str(outside), "sweep/../../outside"):
        at = open_page(fixture_root, page, folder=folder)
        refused = [e.value for e in at.error]
        assert len(refused) == 1 and "outside the dashboard's folder" in refused[0], (page, folder)
        assert not at.dataframe and charts(at) == 0 and "hunter2" not in texts(at)


def test_a_folder_linking_out_of_the_root_is_refused(fixture_root, open_page):
    link = fixture_root / "escape"
    link.symlink_to(fixture_root.parent / "outside")
    try:
        at = open_page(fixture_root, "runs", folder="escape")
        assert "outside the dashboard's folder" in at.error[0].value and not at.dataframe
    finally:
        link.unlink()


def test_a_folder_under_the_root_narrows_the_runs(fixture_root, open_page):
    at = open_page(fixture_root, "runs", folder="sweep")
    assert set(at.dataframe[0].value["name"]) == {f"fair/seed{s}" for s in range(3)} | {"greedy/seed0", "greedy/seed1"}


# ---------------------------------------------------------------------------- Run


def test_run_page_shows_charts_timeline_memories_and_llm_calls(fixture_root, open_page):
    at = open_page(fixture_root, "run", "llm/seed0")
    shown = texts(at)
    assert at.selectbox(key="run_page_pick").value == "llm/seed0"
    assert charts(at) == 4  # stock, wanted vs caught, agreed limits, totals
    assert "embedded" in shown and "Status finished" in shown and "Survived yes" in shown
    assert "1 parse failure, 1 fallback, 1 invalid action, 1 agent error" in shown
    # the timeline: harvest -> town hall -> summary -> reflections and insights, month by month
    for month in (1, 2, 3):
        assert f"### Month {month}" in shown
    assert events_of(fixture_root / "llm" / "seed0", "discussion_started")[0]["report"] in shown
    assert "John here: let us keep to 10 tons each." in shown
    assert "agreed limit 10 per person" in shown and "Insights" in shown
    # problems are highlighted where they happened
    assert any("parse failure" in w.value and "lots of fish" in w.value for w in at.warning)
    assert any("agent error" in e.value and "model server went away" in e.value for e in at.error)
    # memories, insights, LLM calls (prompt and reply on demand), issues
    memories, insights = [df.value for df in at.dataframe if "importance" in df.value.columns]
    assert len(memories) == len(events_of(fixture_root / "llm" / "seed0", "memory")) and len(insights) > 0
    first = events_of(fixture_root / "llm" / "seed0", "llm_call")[0]
    assert (f"#{first['seq']} · month 1 (harvest) · John · {first['purpose']} · attempt 1 · "
            f"{first['prompt_tokens']}+{first['completion_tokens']} tokens") in shown
    assert first["messages"][0]["content"] in shown and first["text"] in shown
    issues = [df.value for df in at.dataframe if "detail" in df.value.columns][0]
    assert sorted(issues["type"]) == sorted(data.ISSUE_TYPES)


def llm_table(at: AppTest):
    return [df.value for df in at.dataframe if "finish_reason" in df.value.columns][0]


def test_llm_calls_show_and_filter_purpose_month_phase_attempt_constraint_finish(fixture_root, open_page):
    at = open_page(fixture_root, "run", "llm/seed0")
    calls = llm_table(at)
    assert {"purpose", "month", "phase", "attempt", "constraint", "finish_reason"} <= set(calls.columns)
    assert calls["purpose"].notna().all() and "None" not in set(calls["purpose"].astype(str))
    options = {key: at.multiselect(key=f"llm_{key}").options for key in data.LLM_FILTERS}
    assert {"harvest", "converse", "summarize", "reflect"} <= set(options["purpose"])
    assert set(options["attempt"]) >= {"1", "2"} and {"none", "regex"} <= set(options["constraint"])
    at.multiselect(key="llm_purpose").set_value(["harvest", "harvest_amount"]).run()
    at.multiselect(key="llm_attempt").set_value([2]).run()
    retried = llm_table(at)  # Emma's amount, asked again under its constraint
    assert list(retried["agent"]) == ["Emma"] and list(retried["constraint"]) == ["regex"]
    assert f"1 of {len(calls)} call(s)" in texts(at)
    at.multiselect(key="llm_attempt").set_value([]).run()
    at.multiselect(key="llm_finish_reason").set_value(["error"]).run()
    assert list(llm_table(at)["agent"]) == ["Jack"] and "The call failed" in texts(at)
    at.multiselect(key="llm_finish_reason").set_value([]).run()
    at.multiselect(key="llm_purpose").set_value([]).run()
    at.multiselect(key="llm_phase").set_value(["reflection"]).run()
    reflecting = llm_table(at)
    assert set(reflecting["phase"]) == {"reflection"} and "reflect" in set(reflecting["purpose"])
    assert "harvest" not in set(reflecting["purpose"])
    assert_clean(at)


def test_llm_calls_of_a_format_1_log_read_from_tags(fixture_root, open_page):
    at = open_page(fixture_root, "run", "v1/seed0")
    calls = llm_table(at)
    assert calls["purpose"].notna().all() and calls["attempt"].notna().all()
    assert {"harvest", "converse"} <= set(at.multiselect(key="llm_purpose").options)
    assert "without a phase: a format-1 log" in texts(at)
    at.multiselect(key="llm_purpose").set_value(["summarize"]).run()
    assert set(llm_table(at)["agent"]) == {"John"}
    assert_clean(at)


def test_run_page_timeline_shows_one_month_on_request(fixture_root, open_page):
    at = open_page(fixture_root, "run", "llm/seed0")
    at.selectbox(key="timeline_month").set_value(2).run()
    shown = texts(at)
    assert "### Month 2" in shown and "### Month 1" not in shown
    assert "model server went away" in shown  # month 2's agent error


def test_the_chosen_run_follows_the_user_to_other_pages(fixture_root, open_page):
    at = open_page(fixture_root, "run", "llm/seed0")
    at.selectbox(key="run_page_pick").set_value("sweep/greedy/seed1").run()
    assert "seed 1" in at.caption[0].value and "Survived no" in texts(at)
    at.switch_page("views/network.py").run()
    assert at.selectbox(key="network_pick").value == "sweep/greedy/seed1"
    assert_clean(at)


@pytest.mark.parametrize("how", DAMAGED)
def test_run_page_shows_what_is_valid_in_a_damaged_run(fixture_root, open_page, how):
    at = open_page(fixture_root, "run", f"damaged/{how}")
    warning = " ".join(w.value for w in at.warning)
    assert "damaged: showing what is valid" in warning and DAMAGED[how] in warning
    shown = texts(at)
    if how in ("no_events", "links_out"):
        assert "No months logged" in shown and charts(at) == 0
    else:
        assert charts(at) >= 3 and "### Month 1" in shown
    if how == "unknown_type":
        assert "Event of an unknown type 'weather'" in shown and "storm" in shown
    if how == "no_config":
        assert "config.json is missing or unreadable" in shown and "collapse line is drawn at the default" in shown
    if how == "links_out":
        assert "secret" not in " ".join(str(c.value) for c in at.code)


def test_run_page_of_a_stopped_run(fixture_root, open_page):
    at = open_page(fixture_root, "run", "stopped/seed0")
    warning = " ".join(w.value for w in at.warning)
    assert "This run is invalid" in warning and "the run was stopped" in warning and "connection refused" in texts(at)


def test_an_unexpected_error_is_one_line_not_a_traceback(fixture_root, open_page, monkeypatch):
    def broken(events, kind):
        raise RuntimeError("boom")

    monkeypatch.setattr(data, "notes_frame", broken)  # used by the Memories tab only
    at = open_page(fixture_root, "runs")
    at.query_params["run"] = "sweep/fair/seed0"
    at.switch_page("views/run.py").run()
    assert not at.exception
    assert [e.value for e in at.error if "could not be shown" in e.value][0].endswith("RuntimeError: boom")
    assert charts(at) == 4 and "### Month 1" in texts(at)  # the rest of the page is still there


# ---------------------------------------------------------------------------- Compare


def test_compare_page_table_survival_curves_and_distributions(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    at.selectbox(key="compare_folder").set_value("sweep").run()
    table = at.dataframe[0].value
    assert list(table["agents"]) == ["sustainable*4,greedy", "sustainable*5"]  # only the key that differs
    assert list(table["survival_rate"]) == [0.0, 100.0] and list(table["runs"]) == [2, 3]
    low, high = report.wilson(3, 3)
    assert table["survival_rate_ci"].iloc[1] == f"{100 * low:.2f}–{100 * high:.2f}"
    assert charts(at) == 2  # Kaplan-Meier and the distribution
    assert f"| sustainable*5 | 3 | 100.00 [{100 * low:.2f}, 100.00] |" in texts(at)
    at.selectbox(key="compare_metric").set_value("gain").run()
    assert_clean(at)


def test_compare_page_groups_by_model_id_not_model_name(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    at.selectbox(key="compare_folder").set_value("models").run()
    table = at.dataframe[0].value
    assert len(table) == 2 and REAL_MODEL_ID in set(table["model_id"])  # same model name, two backends
    real = table[table["model_id"] == REAL_MODEL_ID].iloc[0]
    assert real["runs"] == 1 and real["survival_rate_ci"] == "n/a" and real["gain_ci"] == "n/a"
    fake = table[table["model_id"] != REAL_MODEL_ID].iloc[0]
    assert fake["runs"] == 2 and fake["survival_rate_ci"] != "n/a"
    assert_clean(at)


def test_compare_page_lists_every_run_it_leaves_out(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    assert at.selectbox(key="compare_folder").value == "."
    left_out = at.dataframe[0].value
    assert set(left_out["name"]) == {f"damaged/{how}" for how in DAMAGED} | {"stopped/seed0"}
    assert "10 of 20 runs are unfinished, stopped or damaged" in texts(at)
    problems = dict(zip(left_out["name"], left_out["problems"]))
    assert DAMAGED["bad_line"] in problems["damaged/bad_line"]
    compared = at.dataframe[1].value
    assert compared["runs"].sum() == 10 and charts(at) == 2


def test_compare_page_on_chosen_runs_leaves_unfinished_ones_out(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    at.radio(key="compare_how").set_value("chosen runs").run()
    assert "Pick a folder or some runs" in texts(at)
    at.multiselect(key="compare_runs").set_value(["damaged/truncated", "sweep/fair/seed0"]).run()
    assert "1 of 2 runs are unfinished, stopped or damaged" in texts(at)
    assert list(at.dataframe[0].value["name"]) == ["damaged/truncated"]
    assert len(at.dataframe[1].value) == 1 and charts(at) == 2
    assert at.dataframe[1].value["survival_rate_ci"].iloc[0] == "n/a"  # one run: no interval, not ± 0
    at.multiselect(key="compare_by").set_value([]).run()  # no grouping: one group of all runs
    assert "all runs" in " ".join(at.dataframe[1].value.astype(str).values.ravel())
    assert_clean(at)


# ---------------------------------------------------------------------------- Network


def test_network_page_draws_who_addressed_whom(fixture_root, open_page):
    at = open_page(fixture_root, "network", "llm/seed0")
    assert charts(at) == 1
    edges = at.dataframe[0].value
    utterances = events_of(fixture_root / "llm" / "seed0", "utterance")
    assert edges["times"].sum() == sum(1 for u in utterances if u.get("next_speaker"))
    nodes = at.dataframe[1].value
    assert set(nodes["agent"]) == {"John", "Kate", "Jack", "Emma", "Luke"}
    assert "Agreed limits: month 1: 10, month 2: 10, month 3: 10" in texts(at)
    at.slider(key="network_months").set_value((2, 2)).run()
    assert set(at.dataframe[0].value["months"]) == {"2"}


def test_network_page_without_talk_says_so(fixture_root, open_page):
    at = open_page(fixture_root, "network", "damaged/no_events")
    assert "Nobody spoke" in texts(at) and charts(at) == 0


# ---------------------------------------------------------------------------- Re-ReST


def test_rerest_page_table_and_curves(fixture_root, open_page):
    at = open_page(fixture_root, "rerest")
    assert len(at.dataframe[0].value) == 5 and charts(at) == len(data.REREST_METRICS)
    assert not at.warning


def test_rerest_page_on_a_broken_summary(tmp_path, open_page):
    (tmp_path / data.REREST_FILE).write_text("iteration,method,gain\n0,base,10\n1,rerest,oops\n")
    at = open_page(tmp_path, "rerest")
    assert "lacks column(s)" in texts(at) and "gain: 1 value(s) are not numbers" in texts(at)
    assert charts(at) == 1
    at.text_input(key="rerest_dir").set_value(str(tmp_path / "elsewhere")).run()
    assert "No rerest_summary.csv under" in texts(at)


def test_rerest_page_reads_nothing_outside_the_root(fixture_root, open_page, tmp_path):
    at = open_page(fixture_root, "rerest")
    outside = fixture_root.parent / "outside"
    for typed in (str(outside / "notes.csv"), "../outside/notes.csv", "/etc/passwd", "/etc"):
        at.text_input(key="rerest_dir").set_value(typed).run()
        assert [e.value for e in at.error][0].startswith(typed), typed
        assert "outside the dashboard's folder" in at.error[0].value and not at.dataframe and "hunter2" not in texts(at)
    at.text_input(key="rerest_dir").set_value("sweep/fair/seed0/config.json").run()
    assert "is not a rerest_summary.csv" in at.error[0].value and not at.dataframe
    assert_clean(at)


def test_rerest_page_skips_a_summary_linking_out(tmp_path, open_page):
    root, secret = tmp_path / "root", tmp_path / "secret"
    (root / "linked").mkdir(parents=True)
    secret.mkdir()
    (secret / data.REREST_FILE).write_text(REREST_CSV)
    (root / "linked" / data.REREST_FILE).symlink_to(secret / data.REREST_FILE)
    at = open_page(root, "rerest")
    assert "link outside" in at.warning[0].value and "No rerest_summary.csv under" in texts(at) and not at.dataframe


# ---------------------------------------------------------------------------- Live


def test_live_page_follows_a_run_as_its_events_arrive(fixture_root, tmp_path, open_page):
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
    said = [json.loads(line) for line in lines[:30] if json.loads(line)["type"] == "utterance"]
    assert said and said[-1]["text"] in texts(at)
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
