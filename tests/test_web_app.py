"""Every dashboard page under Streamlit's AppTest, on fixture runs including damaged ones:
what a user sees, and never an exception on the page."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner
from web_runs import DAMAGED, FINISHED, REAL_MODEL_ID, RUNS

from govsim import report
from govsim.rerest import results
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
    assert f"Runs {RUNS}" in shown and f"Finished {FINISHED}" in shown and "Damaged 9" in shown and "Invalid 1" in shown
    assert "9 run(s) have damaged logs" in shown and "1 run(s) were stopped" in shown
    at.multiselect(key="runs_status").set_value(["damaged"]).run()
    assert set(at.dataframe[0].value["status"]) == {"damaged"} and len(at.dataframe[0].value) == 9
    at.multiselect(key="runs_status").set_value([]).run()
    at.text_input(key="runs_search").set_value("sweep/greedy").run()
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
    outside = fixture_root.parent / "outside"  # holds a run folder (a config.json), a CSV and a whole Re-ReST run
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


def open_tab(at: AppTest, name: str) -> AppTest:
    """Switch the Run page to a tab (the tabs are a widget keyed 'tab')."""
    at.session_state["tab"] = name
    at.run()
    assert_clean(at)
    return at


def open_box(at: AppTest, *keys: str) -> AppTest:
    """Open lazy expanders by their keys (their bodies are built only once open)."""
    for key in keys:
        at.session_state[key] = True
    at.run()
    assert_clean(at)
    return at


def labels(at: AppTest) -> list[str]:
    return [e.label for e in at.expander]


def first(events: list[dict], **match) -> dict:
    return next(e for e in events if all(e.get(k) == v for k, v in match.items()))


def test_run_page_builds_only_the_open_tab(fixture_root, open_page):
    at = open_page(fixture_root, "run", "llm/seed0")
    shown = texts(at)
    assert at.selectbox(key="run_page_pick").value == "llm/seed0"
    assert charts(at) == 4  # Charts: stock, wanted vs caught, agreed limits, totals
    assert "fake:embedded" in shown and "Status finished" in shown and "Survived yes" in shown
    assert "1 parse failure, 1 fallback, 1 invalid action, 1 agent error" in shown
    assert "### Month 1" not in shown and not at.dataframe  # the other tabs are not built
    open_tab(at, "Timeline")
    assert charts(at) == 0 and "### Month 1" in texts(at)
    open_tab(at, "Config")
    assert "### Month 1" not in texts(at) and at.json


def test_timeline_shows_each_month_in_order_with_its_issues_folded(fixture_root, open_page):
    run_dir = fixture_root / "llm" / "seed0"
    at = open_tab(open_page(fixture_root, "run", "llm/seed0"), "Timeline")
    assert "### Month 1" in texts(at) and "### Month 2" not in texts(at)  # one month at a time by default
    at.selectbox(key="timeline_month").set_value("all months").run()
    shown = texts(at)
    for month in (1, 2, 3):
        assert f"### Month {month}" in shown
    assert events_of(run_dir, "discussion_started")[0]["report"] in shown
    assert "John here: let us keep to 10 tons each." in shown and "agreed limit 10 per person" in shown
    assert "2 issues this month: 1 parse failure, 1 fallback" in labels(at)
    assert "2 issues this month: 1 invalid action, 1 agent error" in labels(at)
    assert not at.warning and not [e for e in at.error if "**agent error** ·" in e.value]  # folded, not one box each
    harvest_rows = [lbl for lbl in labels(at) if " wanted " in lbl]
    assert len(harvest_rows) == len(events_of(run_dir, "harvest"))
    assert sum("How this was said" in lbl for lbl in labels(at)) == len(events_of(run_dir, "utterance"))
    open_box(at, "tl-issues-1")
    grouped = [df.value for df in at.dataframe]
    assert len(grouped) == 1 and set(grouped[0]["type"]) == {"parse failure", "fallback"}
    assert "reflect" in texts(at) and "lots of fish" in grouped[0]["detail"].iloc[0]


def test_a_harvest_opens_its_prompts_replies_retries_and_memories(fixture_root, open_page):
    run_dir = fixture_root / "llm" / "seed0"
    harvest = first(events_of(run_dir, "harvest"), agent="Emma", month=1)
    calls = [c for c in events_of(run_dir, "llm_call") if (c["agent"], c["month"]) == ("Emma", 1)
             and c["purpose"].startswith("harvest")]
    at = open_tab(open_page(fixture_root, "run", "llm/seed0"), "Timeline")
    key = f"tl-{harvest['seq']}"
    assert f"**Emma** wanted {harvest['wanted']}, caught {harvest['caught']} · 3 calls" in labels(at)
    open_box(at, key)
    for call in calls:  # the label says what the log says: seq, month, phase, purpose, attempt
        assert (f"#{call['seq']} · month 1 (harvest) · {call['purpose']} · attempt {call['attempt']} · "
                f"{call['prompt_tokens']}+{call['completion_tokens']} tokens · {call['finish_reason']}") in " ".join(labels(at))
    assert "Memories in the prompt (1)" in labels(at)
    retry = calls[-1]
    open_box(at, f"{key}-call{retry['seq']}", f"{key}-mem")
    code = [c.value for c in at.code]
    assert retry["messages"][0]["content"] in code and retry["text"] in code
    assert f"constraint regex {retry['constraint']['regex']}" in texts(at)
    (memories,) = [df.value for df in at.dataframe]
    assert memories["text"].iloc[0] in retry["messages"][0]["content"]


def test_an_utterance_a_failed_reflection_and_an_insight_open_their_traces(fixture_root, open_page):
    run_dir = fixture_root / "llm" / "seed0"
    said = first(events_of(run_dir, "utterance"), agent="Kate", month=2)
    luke = first(events_of(run_dir, "reflection"), agent="Luke", month=1)
    plan = first(events_of(run_dir, "insight"), agent="John", month=1, source="plan")
    at = open_tab(open_page(fixture_root, "run", "llm/seed0"), "Timeline")
    at.selectbox(key="timeline_month").set_value("all months").run()
    open_box(at, f"tl-{said['seq']}", f"tl-{luke['seq']}", f"tl-{plan['seq']}")
    shown = " ".join(labels(at))
    for purpose in ("converse", "converse_end", "converse_next"):
        assert f"month 2 (discussion) · {purpose} · attempt 1" in shown
    for attempt in (1, 2, 3):
        assert f"month 1 (reflection) · reflect · attempt {attempt}" in shown
    assert any("parse failure" in w.value and "lots of fish" in w.value for w in at.warning)
    assert any("fallback" in w.value for w in at.warning)
    assert "month 1 (reflection) · think_plan · attempt 1" in shown and "importance · attempt 1" in shown


def test_agents_tab_follows_one_agent_over_the_run(fixture_root, open_page):
    run_dir = fixture_root / "llm" / "seed0"
    at = open_tab(open_page(fixture_root, "run", "llm/seed0"), "Agents")
    at.selectbox(key="agent_pick").set_value("Luke").run()
    metrics = {m.label: m.value for m in at.metric}
    luke = [e for e in read_events(run_dir) if e.get("agent") == "Luke"]
    assert metrics["Caught in all"] == str(sum(e["caught"] for e in luke if e["type"] == "harvest"))
    assert metrics["Utterances"] == str(sum(e["type"] == "utterance" for e in luke))
    assert metrics["LLM calls"] == str(sum(e["type"] == "llm_call" for e in luke))
    assert metrics["Issues"] == "2"
    tables = {tuple(df.value.columns)[:3]: df.value for df in at.dataframe}
    notes = next(v for k, v in tables.items() if "type" in v.columns and "importance" in v.columns)
    assert len(notes) == sum(e["type"] in ("memory", "insight") for e in luke)
    harvests = next(v for v in tables.values() if "wanted" in v.columns)
    assert harvests["month"].tolist() == [1, 2, 3]
    at.selectbox(key="agent_month").set_value(2).run()
    month2 = [e for e in luke if e["month"] == 2 and e["type"] not in ("llm_call",)]
    assert sum(lbl.startswith(("**Luke**", "said", "reflected", "thought", "remembered")) for lbl in labels(at)) == len(month2)
    memory = first([e for e in month2 if e["type"] == "memory"], always_relevant=False)
    open_box(at, f"ag-Luke-{memory['seq']}")
    assert f"month 2 ({memory['phase']}) · importance · attempt 1" in " ".join(labels(at))


def read_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def llm_table(at: AppTest):
    return [df.value for df in at.dataframe if "finish_reason" in df.value.columns][0]


def test_llm_calls_show_and_filter_purpose_month_phase_attempt_constraint_finish(fixture_root, open_page):
    at = open_tab(open_page(fixture_root, "run", "llm/seed0"), "LLM calls")
    calls = llm_table(at)
    logged = events_of(fixture_root / "llm" / "seed0", "llm_call")
    assert {"purpose", "month", "phase", "attempt", "constraint", "finish_reason", "decision"} <= set(calls.columns)
    for key in ("seq", "month", "phase", "agent", "purpose", "attempt", "finish_reason"):  # as the log holds them
        assert calls[key].tolist() == [c[key] for c in logged], key
    assert "None" not in set(calls["purpose"].astype(str)) and calls["decision"].notna().all()
    options = {key: at.multiselect(key=f"llm_{key}").options for key in data.LLM_FILTERS}
    assert {"harvest", "converse", "summarize", "reflect", "importance", "think_plan"} <= set(options["purpose"])
    assert set(options["attempt"]) >= {"1", "2"} and {"none", "regex", "choice"} <= set(options["constraint"])
    at.multiselect(key="llm_purpose").set_value(["harvest", "harvest_amount"]).run()
    at.multiselect(key="llm_attempt").set_value([2]).run()
    retried = llm_table(at)  # Emma's amount, asked again under its constraint
    assert list(retried["agent"]) == ["Emma"] and list(retried["constraint"]) == ["regex"]
    assert f"1 of {len(calls)} call(s)" in texts(at)
    at.multiselect(key="llm_attempt").set_value([]).run()
    at.multiselect(key="llm_finish_reason").set_value(["error"]).run()
    (failed,) = llm_table(at)["seq"]
    assert list(llm_table(at)["agent"]) == ["Jack"]
    open_box(at, f"llm-{failed}")
    assert "The call failed" in texts(at) and "made for the harvest of Jack, month 2" in texts(at)
    at.multiselect(key="llm_finish_reason").set_value([]).run()
    at.multiselect(key="llm_purpose").set_value([]).run()
    at.multiselect(key="llm_phase").set_value(["reflection"]).run()
    reflecting = llm_table(at)
    assert set(reflecting["phase"]) == {"reflection"} and "reflect" in set(reflecting["purpose"])
    assert "harvest" not in set(reflecting["purpose"])
    at.multiselect(key="llm_phase").set_value([]).run()
    at.multiselect(key="llm_decision").set_value(["memory (chat: summary)"]).run()
    rated = llm_table(at)  # every agent rates the meeting's summary, each month
    assert set(rated["purpose"]) == {"importance"} and len(rated) == 5 * 3
    assert_clean(at)


def test_llm_calls_of_a_format_1_log_read_from_tags(fixture_root, open_page):
    at = open_tab(open_page(fixture_root, "run", "v1/seed0"), "LLM calls")
    calls = llm_table(at)
    assert calls["purpose"].notna().all() and calls["attempt"].notna().all()
    assert {"harvest", "converse"} <= set(at.multiselect(key="llm_purpose").options)
    assert "without a phase: a format-1 log" in texts(at)
    at.multiselect(key="llm_purpose").set_value(["summarize"]).run()
    assert set(llm_table(at)["agent"]) == {"John"}
    assert_clean(at)


def test_run_page_timeline_shows_one_month_on_request(fixture_root, open_page):
    at = open_tab(open_page(fixture_root, "run", "llm/seed0"), "Timeline")
    at.selectbox(key="timeline_month").set_value(2).run()
    shown = texts(at)
    assert "### Month 2" in shown and "### Month 1" not in shown
    assert "2 issues this month: 1 invalid action, 1 agent error" in labels(at)


def test_a_long_run_folds_its_issues_and_builds_quickly(fixture_root, open_page):
    at = open_tab(open_page(fixture_root, "run", "long/seed0"), "Timeline")
    at.selectbox(key="timeline_month").set_value("all months").run()
    assert sum(lbl.endswith("issues this month: 1 parse failure, 1 fallback") or "issues this month" in lbl
               for lbl in labels(at)) >= 2
    assert len(at.warning) == 0  # no box per failure: the issue said 180 a month
    assert texts(at).count("### Month") == 12


def test_events_the_page_has_no_layout_for_are_shown_in_their_place(fixture_root, open_page):
    run_dir = fixture_root / "institutions" / "seed0"
    at = open_tab(open_page(fixture_root, "run", "institutions/seed0"), "Timeline")
    vote = first(events_of(run_dir, "vote"), agent="Kate")
    shown = labels(at)
    assert f"vote · agent Kate, candidate {vote['candidate']}, valid True" in shown
    assert any(lbl.startswith("agenda · agent John") for lbl in shown)
    assert any(lbl.startswith("sanction · agent") for lbl in shown) and any(lbl.startswith("election · leader") for lbl in shown)
    open_box(at, f"tl-{vote['seq']}")
    assert any('"candidate"' in c.value for c in at.code)


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
    if how in ("no_events", "links_out"):
        assert "No months logged" in texts(at) and charts(at) == 0
    else:
        assert charts(at) >= 3
    if how == "no_config":
        assert "collapse line is drawn at the default" in texts(at)
    for tab in ("Timeline", "Agents", "LLM calls", "Issues", "Config"):
        open_tab(at, tab)
    open_tab(at, "Timeline")
    shown = texts(at)
    if how not in ("no_events", "links_out"):
        assert "### Month 1" in shown
    if how == "unknown_type":
        assert "weather (an event type this version does not know) · text storm" in labels(at)
    if how == "no_config":
        assert "config.json is missing or unreadable" in texts(open_tab(at, "Config"))
    if how == "links_out":
        assert "secret" not in " ".join(str(c.value) for c in at.code)


def test_run_page_of_a_stopped_run(fixture_root, open_page):
    at = open_page(fixture_root, "run", "stopped/seed0")
    warning = " ".join(w.value for w in at.warning)
    assert "This run is invalid" in warning and "the run was stopped" in warning and "connection refused" in texts(at)


def test_an_unexpected_error_is_one_line_not_a_traceback(fixture_root, open_page, monkeypatch):
    from web import trace_ui

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(trace_ui, "issues_box", broken)  # the Timeline's and the Agents tab's, not the Charts'
    at = open_page(fixture_root, "runs")
    at.query_params["run"] = "sweep/fair/seed0"
    at.switch_page("views/run.py").run()
    assert charts(at) == 4 and "Status finished" in texts(at)
    at.session_state["tab"] = "Timeline"
    at.run()
    assert not at.exception
    assert [e.value for e in at.error if "could not be shown" in e.value][0].endswith("RuntimeError: boom")
    assert "Status finished" in texts(at)  # the header is still there, and the other tabs
    assert charts(open_tab(at, "Charts")) == 4


# ---------------------------------------------------------------------------- Compare


def test_compare_page_table_survival_curves_and_distributions(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    at.selectbox(key="compare_folder").set_value("sweep").run()
    table = at.dataframe[0].value
    assert list(table["agents"]) == ["sustainable*4,greedy", "sustainable*5"]  # only the key that differs
    assert list(table["survival_rate"]) == [0.0, 100.0] and list(table["runs"]) == [2, 3]
    low, high = report.wilson(3, 3)
    assert table["survival_rate_ci"].iloc[1] == f"{100 * low:.2f}–{100 * high:.2f}"
    assert charts(at) == 4  # stock and catch per month, Kaplan-Meier and the distribution
    assert f"| sustainable*5 | 3 | 100.00 [{100 * low:.2f}, 100.00] |" in texts(at)
    at.selectbox(key="compare_metric").set_value("gain").run()
    assert_clean(at)


def series(chart) -> dict[str, list[float]]:
    """The named lines of a plotly chart on the page: {name: y values}."""
    spec = json.loads(chart.proto.spec)

    def values(y):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist() if isinstance(y, dict) else list(y)

    return {d["name"]: values(d["y"]) for d in spec["data"] if d.get("name")}


def test_compare_page_group_view_and_the_papers_columns_first(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    at.selectbox(key="compare_folder").set_value("sweep").run()
    order = list(at.dataframe[0].proto.column_order)
    assert order[:4] == ["group", "runs", "survival_rate", "survival_rate_ci"]
    assert order.index("over_usage") < order.index("parse_failure_rate") < order.index("agents")
    stock, caught = (series(c) for c in at.get("plotly_chart")[:2])
    fair = [read_events(fixture_root / "sweep" / "fair" / f"seed{s}") for s in range(3)]
    for month in (1, 2, 3, 4):
        starts = [first(evs, type="month_started", month=month)["stock"] for evs in fair]
        totals = [first(evs, type="harvest_done", month=month)["total"] for evs in fair]
        assert stock["sustainable*5 (n=3)"][month - 1] == pytest.approx(sum(starts) / 3)
        assert caught["sustainable*5 (n=3)"][month - 1] == pytest.approx(sum(totals) / 3)
    assert stock["sustainable*4,greedy (n=2)"] == [100, 0, 0, 0]  # both collapsed in month 1: empty after, to month 4
    assert "Stock and catch per month (mean and 95 % band per group)" in texts(at)


def test_compare_keeps_institutions_and_planned_months_apart(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    table = at.dataframe[1].value  # all runs: the left-out ones first
    greedy = table[table["agents"] == "sustainable*4,greedy"].set_index("institutions")
    assert greedy.loc["none", "runs"] == 2 and greedy.loc["election,sanctions", "runs"] == 1
    generative = table[(table["agents"] == "generative*5") & table["model_id"].str.startswith("fake:")]
    assert sorted(generative["horizon"]) == [3, 12] and list(generative["runs"]) == [1, 1]
    assert any(label.endswith("12 months") for label in generative["group"])


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
    assert f"10 of {RUNS} runs are unfinished, stopped or damaged" in texts(at)
    problems = dict(zip(left_out["name"], left_out["problems"]))
    assert DAMAGED["bad_line"] in problems["damaged/bad_line"]
    compared = at.dataframe[1].value
    assert compared["runs"].sum() == FINISHED and charts(at) == 4


def test_compare_page_on_chosen_runs_leaves_unfinished_ones_out(fixture_root, open_page):
    at = open_page(fixture_root, "compare")
    at.radio(key="compare_how").set_value("chosen runs").run()
    assert "Pick a folder or some runs" in texts(at)
    at.multiselect(key="compare_runs").set_value(["damaged/truncated", "sweep/fair/seed0"]).run()
    assert "1 of 2 runs are unfinished, stopped or damaged" in texts(at)
    assert list(at.dataframe[0].value["name"]) == ["damaged/truncated"]
    assert len(at.dataframe[1].value) == 1 and charts(at) == 4
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
    summary, losses = (d.value for d in at.dataframe)
    assert list(zip(summary["iteration"], summary["method"])) == [
        (0, "base"), (1, "rerest"), (1, "self_training"), (2, "rerest"), (2, "self_training")
    ]
    assert charts(at) == len(results.CHARTED) + 1  # and the losses per epoch
    # epochs 0-2 of iteration 1's three adapters and iteration 2's two (the last trains no reflector)
    assert sorted(set(zip(losses["iteration"], losses["adapter"]))) == [
        (1, "reflector"), (1, "rerest"), (1, "self_training"), (2, "rerest"), (2, "self_training")
    ] and len(losses) == 5 * 3
    assert not at.warning


def test_rerest_page_on_a_broken_summary(tmp_path, open_page):
    (tmp_path / results.SUMMARY_FILE).write_text("iteration,method,gain\n0,base,10\n1,rerest,oops\n")
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


def test_rerest_page_skips_a_summary_linking_out(fixture_root, tmp_path, open_page):
    root, secret = tmp_path / "root", tmp_path / "secret"
    (root / "linked").mkdir(parents=True)
    secret.mkdir()
    shutil.copy(fixture_root / "rerest" / results.SUMMARY_FILE, secret)
    (root / "linked" / results.SUMMARY_FILE).symlink_to(secret / results.SUMMARY_FILE)
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
