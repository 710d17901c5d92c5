"""The dashboard's data layer (web/data.py, web/paths.py) on the fixture runs of ``web_runs``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from web_runs import DAMAGED, REAL_MODEL_ID, RUNS

from govsim import report
from govsim.rerest import results
from govsim.runlog import read_run
from web import data, decisions, groups, paths


def table(root: Path) -> pd.DataFrame:
    base = root.resolve()
    return data.runs_table(root, load=lambda path: paths.read_inside(path, base)).set_index("name")


# ---------------------------------------------------------------------------- runs


def test_runs_table_gives_each_run_its_status(fixture_root):
    runs = table(fixture_root)
    assert len(runs) == RUNS
    assert runs.loc["sweep/fair/seed0", "status"] == data.FINISHED
    assert runs.loc["llm/seed0", "status"] == data.FINISHED and runs.loc["v1/seed0", "status"] == data.FINISHED
    assert runs.loc["llm/seed0", "parse_failures"] == 1 and runs.loc["llm/seed0", "agent_errors"] == 1
    assert runs.loc["llm/seed0", "model"] == "embedded"
    assert runs.loc["stopped/seed0", "status"] == data.INVALID
    assert "the run was stopped" in runs.loc["stopped/seed0", "problems"]
    for how, problem in DAMAGED.items():
        assert runs.loc[f"damaged/{how}", "status"] == data.DAMAGED, how
        assert problem in runs.loc[f"damaged/{how}", "problems"], how
    assert runs.loc["sweep/greedy/seed0", "months"] == 1 and runs.loc["sweep/fair/seed1", "months"] == 4
    assert runs.loc["institutions/seed0", "institutions"] == "election,sanctions"
    assert runs.loc["sweep/fair/seed0", "institutions"] == "none" and runs.loc["long/seed0", "horizon"] == 12


def test_runs_table_groups_by_model_id_with_the_model_as_fallback(fixture_root):
    runs = table(fixture_root)
    fake = runs.loc["models/fake/seed0", "model_id"]
    assert fake.startswith("fake:") and runs.loc["models/real/seed0", "model_id"] == REAL_MODEL_ID
    assert runs.loc["models/real/seed0", "model"] == runs.loc["models/fake/seed0", "model"] == "embedded"
    assert runs.loc["v1/seed0", "model_id"] == "embedded"  # a format-1 summary has no model_id
    assert runs.loc["sweep/fair/seed0", "model_id"] == "-"  # scripted agents: no model


def test_decisions_come_from_the_counter_or_the_calls(fixture_root):
    runs = table(fixture_root)
    llm, v1 = runs.loc["llm/seed0"], runs.loc["v1/seed0"]
    calls = read_run(fixture_root / "llm" / "seed0").of_type("llm_call")
    assert llm["decisions"] == sum(1 for c in calls if c["attempt"] == 1) < llm["llm_calls"]
    assert v1["decisions"] == llm["decisions"]  # counted from the format-1 calls' tags


def test_a_damaged_summary_field_is_an_empty_cell_and_a_problem():
    summary = {"metrics": {"survived": "yes", "gain": [1], "efficiency": 0.5}, "counters": [1, 2],
               "agents": ["John"], "model": {"name": "x"}, "seed": 3}
    fields, found = data.checked_summary(summary)
    assert fields["survived"] is None and fields["gain"] is None and fields["efficiency"] == 0.5
    assert fields["agents"] is None and fields["model"] is None and fields["seed"] == 3
    assert fields["llm_calls"] is None
    assert len(found) == 5 and any("metrics.survived is str \"yes\", not true or false" in p for p in found)
    assert any("counters is list" in p for p in found)
    assert data.checked_summary(None) == ({}, [])
    assert data.checked_summary([1]) == ({}, ["summary.json: not an object but list (left out)"])


def test_unfinished_run_is_not_damaged(fixture_root, tmp_path):
    run_dir = Path(shutil.copytree(fixture_root / "sweep" / "fair" / "seed0", tmp_path / "r"))
    (run_dir / "summary.json").unlink()
    assert data.status(read_run(run_dir)) == data.UNFINISHED


# ---------------------------------------------------------------------------- keeping inside the root


def test_typed_paths_must_stay_inside_the_base(fixture_root):
    base = fixture_root.resolve()
    assert paths.under("sweep", base) == base / "sweep" and paths.under(str(base / "llm"), base) == base / "llm"
    assert paths.under("", base) == base
    for typed in ("..", "../outside", "/etc", "sweep/../../outside", str(base.parent / "outside")):
        with pytest.raises(paths.Refused, match="outside the dashboard's folder"):
            paths.under(typed, base)
    (fixture_root / "escape").symlink_to(fixture_root.parent / "outside")
    try:
        with pytest.raises(paths.Refused):
            paths.under("escape", base)
    finally:
        (fixture_root / "escape").unlink()


def test_a_run_linking_out_of_the_base_is_not_read(fixture_root):
    base = fixture_root.resolve()
    refused = paths.read_inside(fixture_root / "damaged" / "links_out", base)
    assert refused.events == [] and refused.config is None
    assert "events.jsonl links outside" in refused.problems[0]
    assert paths.read_inside(fixture_root / "llm" / "seed0", base).events  # a run inside is read


def test_rerest_files_only_inside_the_base(fixture_root, tmp_path):
    base = fixture_root.resolve()
    inside, outside = paths.rerest_files(base, base)
    assert inside == [base / "rerest" / results.SUMMARY_FILE] and outside == []
    assert paths.rerest_files(base / "sweep" / "fair" / "seed0" / "config.json", base) == ([], [])
    linked = tmp_path / "root"
    (linked / "r").mkdir(parents=True)
    shutil.copy(fixture_root / "rerest" / results.SUMMARY_FILE, tmp_path)
    (linked / "r" / results.SUMMARY_FILE).symlink_to(tmp_path / results.SUMMARY_FILE)
    assert paths.rerest_files(linked.resolve(), linked.resolve()) == ([], [linked.resolve() / "r" / results.SUMMARY_FILE])


# ---------------------------------------------------------------------------- one run


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
    calls = data.llm_frame(events)
    assert len(calls) == sum(1 for e in events if e["type"] == "llm_call")
    assert {"harvest", "importance", "converse", "summarize", "reflect"} <= set(calls["purpose"])
    assert set(calls["phase"]) >= {"harvest", "discussion", "reflection"} and set(calls["month"]) == {1, 2, 3}
    emma = calls[(calls["agent"] == "Emma") & (calls["month"] == 1) & calls["purpose"].str.startswith("harvest")]
    assert emma["attempt"].tolist() == [1, 1, 2]  # her reasoning, then the amount asked twice
    assert emma["constraint"].tolist() == ["none", "regex", "regex"]
    failed = calls[calls["error"].notna()]
    assert failed["agent"].tolist() == ["Jack"] and failed["finish_reason"].tolist() == ["error"]
    assert data.issue_counts(events) == {"parse_failure": 1, "fallback": 1, "invalid_action": 1, "agent_error": 1}
    assert len(data.notes_frame(events, "memory")) > 0 and len(data.notes_frame(events, "insight")) > 0


def test_format_1_calls_read_from_their_tags(fixture_root):
    new = data.llm_frame(read_run(fixture_root / "llm" / "seed0").events)
    old_events = [json.loads(line) for line in (fixture_root / "v1" / "seed0" / "events.jsonl").read_text().splitlines()]
    assert all("purpose" not in e for e in old_events if e["type"] == "llm_call")  # the fixture is format 1
    old = data.llm_frame(old_events)
    for key in ("month", "agent", "purpose", "attempt", "constraint", "finish_reason"):
        assert old[key].tolist() == new[key].tolist(), key
    assert old["phase"].isna().all()  # stamped one phase late in format 1: not shown
    assert data.llm_frame(read_run(fixture_root / "v1" / "seed0").events)["purpose"].tolist() == new["purpose"].tolist()


def test_damaged_values_in_events_give_empty_cells():
    events = [{"type": "month_started", "month": "x", "stock": [1], "agents": ["A"], "threshold": None},
              {"type": "harvest_done", "month": [2], "stock_after": "?"},
              {"type": "llm_call", "v": 2, "tags": ["not", "a", "dict"], "constraint": "free", "month": {"m": 1}}]
    assert data.months_played(events) == 0 and data.latest_stock(events) is None
    assert data.month_frame(events)["month"].tolist() == [0]
    assert set(data.by_month(events)) == {0}
    calls = data.llm_frame(events)
    assert calls["month"].isna().all() and calls["constraint"].tolist() == ["none"]


def test_groups_are_labelled_by_the_keys_that_differ(fixture_root):
    frame = data.runs_table(fixture_root / "sweep")
    grouped, keys = data.with_groups(frame, ["scenario", "experiment", "agents"])
    assert keys == ["agents"] and set(grouped["group"]) == {"sustainable*5", "sustainable*4,greedy"}
    grouped, keys = data.with_groups(frame, [])
    assert keys == ["group"] and set(grouped["group"]) == {"all runs"}


# ---------------------------------------------------------------------------- comparing


def compare(frame: pd.DataFrame, by: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """What the Compare page tabulates: the report's table of the healthy runs, grouped."""
    grouped, keys = data.with_groups(frame[frame["status"] == data.FINISHED], by)
    return report.summary_table(data.report_frame(grouped), by=keys), keys


def test_compare_groups_by_model_id_with_wilson_intervals_and_none_for_one_run(fixture_root):
    compared, keys = compare(data.runs_table(fixture_root / "models"), ["scenario", "model_id", "agents"])
    assert keys == ["model_id"]
    compared = compared.set_index("model_id")
    fake, real = compared.drop(index=REAL_MODEL_ID).iloc[0], compared.loc[REAL_MODEL_ID]
    assert (fake["runs"], real["runs"]) == (2, 1)  # the same model name, two backends: two groups
    low, high = report.wilson(2, 2)
    assert fake["survival_rate"] == 100.0
    assert (fake["survival_rate_low"], fake["survival_rate_high"]) == pytest.approx((100 * low, 100 * high))
    assert math.isnan(real["survival_rate_low"]) and math.isnan(real["gain_high"])
    shown = data.with_interval_text(compared.reset_index()).set_index("model_id")
    assert shown.loc[REAL_MODEL_ID, "survival_rate_ci"] == "n/a" and "survival_rate_low" not in shown.columns
    assert shown.loc[fake.name, "survival_rate_ci"] == f"{100 * low:.2f}–{100 * high:.2f}"


def test_survival_time_interval_stops_at_the_planned_months_and_curves_cover_each_group(fixture_root):
    frame = data.runs_table(fixture_root / "sweep")
    compared, keys = compare(frame, ["agents"])
    fair = compared.set_index("agents").loc["sustainable*5"]
    assert fair["survival_time"] == fair["survival_time_high"] == 4  # all three lasted their 4 months
    grouped, keys = data.with_groups(frame, keys)
    curves = report.km_curves(data.report_frame(grouped), by=keys)
    assert set(curves["group"]) == {"sustainable*5", "sustainable*4,greedy"}


def test_parse_failure_rate_is_per_decision(fixture_root):
    row = compare(data.runs_table(fixture_root / "llm"), [])[0].iloc[0]
    assert row["parse_failure_rate"] == pytest.approx(1 / row["decisions"]) and row["decisions"] < row["llm_calls"]


# ---------------------------------------------------------------------------- decision traces


def events_of(run_dir: Path) -> list[dict]:
    return read_run(run_dir).events


def test_every_call_serves_exactly_one_decision_of_its_agent_month_and_phase(fixture_root):
    for name in ("llm/seed0", "long/seed0"):
        events = events_of(fixture_root / name)
        traces = decisions.link(events)
        calls = [e for e in events if e["type"] == "llm_call"]
        assert {c["seq"] for c in calls} == set(traces.owner), name  # none left over
        seen: list[int] = []
        for trace in traces.by_seq.values():
            seen += [c["seq"] for c in trace.calls]
            for call in trace.calls:
                assert (call["agent"], call["month"], call["phase"]) == (
                    trace.event["agent"], trace.event["month"], trace.event["phase"]), (name, call["seq"])
                assert call["seq"] < trace.event["seq"]
        assert sorted(seen) == sorted(c["seq"] for c in calls)  # each once


def test_a_harvest_opens_its_reasoning_its_amount_and_every_retry(fixture_root):
    events = events_of(fixture_root / "llm" / "seed0")
    traces = decisions.link(events)
    harvests = [e for e in events if e["type"] == "harvest"]
    for harvest in harvests:
        trace = traces.of(harvest)
        if (harvest["agent"], harvest["month"]) == ("Jack", 2):  # the call failed: an agent error, nothing wanted
            assert [i["type"] for i in trace.issues] == ["agent_error", "invalid_action"]
            assert [c["error"] is not None for c in trace.calls] == [True]
            continue
        assert [a.purpose for a in trace.asks] == ["harvest", "harvest_amount"]
        amount = trace.asks[1].calls[-1]
        assert amount["text"].strip() == str(harvest["wanted"])  # the reply that was read is what was wanted
    emma = next(traces.of(h) for h in harvests if (h["agent"], h["month"]) == ("Emma", 1))
    assert [c["attempt"] for c in emma.asks[1].calls] == [1, 2] and emma.asks[1].calls[0]["text"] == ""
    assert emma.asks[1].calls[1]["constraint"]["regex"]  # the retry was constrained


def test_an_utterance_opens_the_calls_that_said_it_ended_it_and_named_the_next(fixture_root):
    events = events_of(fixture_root / "llm" / "seed0")
    traces = decisions.link(events)
    for u in (e for e in events if e["type"] == "utterance"):
        asks = {a.purpose: a.calls for a in traces.of(u).asks}
        assert set(asks) == {"converse", "converse_end", "converse_next"}
        assert asks["converse"][-1]["text"] == u["text"] and asks["converse_next"][-1]["text"] == u["next_speaker"]


def test_a_failed_reflection_holds_its_attempts_its_parse_failure_and_its_fallback(fixture_root):
    events = events_of(fixture_root / "llm" / "seed0")
    traces = decisions.link(events)
    luke = next(e for e in events if e["type"] == "reflection" and (e["agent"], e["month"]) == ("Luke", 1))
    (ask,) = [a for a in traces.of(luke).asks if a.purpose == "reflect"]
    assert [c["attempt"] for c in ask.calls] == [1, 2, 3] and [i["type"] for i in ask.issues] == ["parse_failure", "fallback"]
    assert traces.of(luke).problems() == ask.issues


def test_memories_and_insights_open_their_rating_and_the_thought_behind_them(fixture_root):
    events = events_of(fixture_root / "llm" / "seed0")
    traces = decisions.link(events)
    for note in (e for e in events if e["type"] in ("memory", "insight")):
        trace = traces.of(note)
        ratings = [a for a in trace.asks if a.purpose == "importance"]
        if note["always_relevant"]:
            assert ratings == []
            continue
        (rating,) = ratings
        assert note["text"] in rating.first["messages"][0]["content"]
        assert float(rating.calls[-1]["text"].split(":")[-1]) == note["importance"]  # 'Rating: 4' -> 4.0
        if note.get("source") in ("plan", "memorize"):
            (thought,) = [a for a in trace.asks if a.purpose != "importance"]
            assert thought.purpose == f"think_{note['source']}" and thought.calls[-1]["text"].startswith(note["text"])
        if note.get("source") == "reflection":
            assert [a.purpose for a in trace.shown] == ["reflect"] and note["text"] in trace.shown[0].calls[-1]["text"]
    labels = {decisions.label(traces.decision_of(c)) for c in events if c["type"] == "llm_call"}
    assert {"harvest", "utterance", "summary", "reflection", "insight (plan)", "memory (chat: summary)"} <= labels


def test_recalled_memories_are_those_the_prompt_listed(fixture_root):
    events = events_of(fixture_root / "llm" / "seed0")
    traces = decisions.link(events)
    harvest = next(e for e in events if e["type"] == "harvest" and (e["agent"], e["month"]) == ("Kate", 3))
    recalled = decisions.recalled(traces, traces.of(harvest))
    prompt = traces.of(harvest).asks[0].first["messages"][0]["content"]
    assert recalled and all(n["agent"] == "Kate" and n["text"] in prompt for n in recalled)
    assert all(n["seq"] < harvest["seq"] for n in recalled)
    assert {n["month"] for n in recalled} >= {2, 3}  # last month's thoughts and this month's stock
    positions = [prompt.find(n["text"]) for n in recalled]
    assert positions == sorted(positions)  # in the order the prompt lists them


def test_an_institutions_events_name_their_agent_and_link_nothing_without_calls(fixture_root):
    events = events_of(fixture_root / "institutions" / "seed0")
    traces = decisions.link(events)
    votes = [e for e in events if e["type"] == "vote"]
    assert votes and all(traces.of(v).event is v and traces.of(v).asks == [] for v in votes)


# ---------------------------------------------------------------------------- group view


def test_a_collapsed_run_counts_as_an_empty_commons_after_it(fixture_root):
    greedy = groups.run_months(read_run(fixture_root / "sweep" / "greedy" / "seed0"), 4)
    assert greedy["stock"].tolist() == [100, 0, 0, 0] and greedy["caught"].iloc[1:].tolist() == [0, 0, 0]
    fair = groups.run_months(read_run(fixture_root / "sweep" / "fair" / "seed0"), 6)
    assert fair["stock"].iloc[:4].notna().all() and fair["stock"].iloc[4:].isna().all()  # planned 4, not collapsed


def test_group_bands_average_every_run_of_a_group_per_month(fixture_root):
    frame = data.runs_table(fixture_root / "sweep")
    grouped, _ = data.with_groups(frame, ["agents"])
    bands = groups.group_bands(grouped, lambda path: read_run(path)).set_index(["group", "month"])
    fair, greedy = bands.loc["sustainable*5"], bands.loc["sustainable*4,greedy"]
    assert fair.index.tolist() == [1, 2, 3, 4] and (fair["runs"] == 3).all()
    assert greedy["stock_mean"].tolist() == [100, 0, 0, 0]  # collapsed in month 1, shown to the planned month 4
    totals = [data.month_frame(read_run(fixture_root / "sweep" / "fair" / f"seed{s}").events) for s in range(3)]
    assert fair.loc[2, "caught_mean"] == pytest.approx(sum(t["total_caught"].iloc[1] for t in totals) / 3)
    assert fair["stock_low"].notna().all() and (fair["stock_low"] <= fair["stock_mean"]).all()
    # mixed into one group, a collapsed run pulls the mean down in the months after
    mixed = grouped.assign(group="all")
    both = groups.group_bands(mixed, lambda path: read_run(path)).set_index("month")
    stocks = [groups.run_months(read_run(p), 4)["stock"].iloc[1] for p in mixed["run"]]
    assert both.loc[2, "runs"] == 5 and both.loc[2, "stock_mean"] == pytest.approx(sum(stocks) / 5)
    assert both["stock_low"].min() >= 0  # clipped at an empty commons


def test_a_group_of_one_run_has_no_band(fixture_root):
    frame = data.runs_table(fixture_root / "llm").assign(group="one")
    bands = groups.group_bands(frame, lambda path: read_run(path))
    assert (bands["runs"] == 1).all() and bands["stock_low"].isna().all() and bands["stock_mean"].notna().all()


def test_compare_columns_put_the_papers_metrics_first():
    order = groups.paper_first(["scenario", "agents", "runs", "gain", "gain_ci", "survival_rate", "survival_rate_ci",
                                "llm_calls", "group"], ["scenario", "agents"], report.PAPER_METRICS)
    assert order == ["group", "runs", "survival_rate", "survival_rate_ci", "gain", "gain_ci", "llm_calls",
                     "scenario", "agents"]


# ---------------------------------------------------------------------------- Re-ReST


def test_rerest_reader_reports_bad_files(fixture_root, tmp_path):
    frame, problems = data.read_rerest(fixture_root / "rerest" / results.SUMMARY_FILE)
    assert problems == [] and set(frame["method"]) == {"base", "self_training", "rerest"}
    older = tmp_path / "older.csv"  # written before the summary had the paper's equality and over-usage
    pd.read_csv(fixture_root / "rerest" / results.SUMMARY_FILE).drop(columns=["equality", "over_usage"]).to_csv(older)
    assert data.read_rerest(older)[1] == []
    damaged = tmp_path / "damaged.csv"  # a charted column that only newer summaries have is read as numbers too
    pd.read_csv(fixture_root / "rerest" / results.SUMMARY_FILE).assign(equality="lots").to_csv(damaged)
    frame, problems = data.read_rerest(damaged)
    assert problems == ["equality: 5 value(s) are not numbers (left empty)"] and frame["equality"].isna().all()
    bad = tmp_path / results.SUMMARY_FILE
    bad.write_text("iteration,method,gain\n1,rerest,lots\n")
    frame, problems = data.read_rerest(bad)
    assert any("lacks column" in p for p in problems) and any("not numbers" in p for p in problems)
    assert pd.isna(frame["gain"].iloc[0])
