"""``govsim report``: intervals, grouping by model_id, runs left out and why, damaged
run folders, the published numbers and the comparison with them."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govsim import config, report, runner
from govsim.cli import app
from govsim.config import DEFAULT_NAMES
from govsim.runlog import EVENTS_FILE, SUMMARY_FILE

cli = CliRunner()
Z = 1.959963984540054  # the 97.5 % point of the normal distribution
ROOT = Path(__file__).resolve().parents[1]


def run(directory, agents, experiment="default", **overrides):
    cfg = config.resolve(experiment, overrides={**({"agents": agents} if agents else {}), **overrides})
    return runner.run(cfg, directory).summary


def fixed(amount, n=5):
    return [{"name": name, "type": "fixed", "params": {"amount": amount}} for name in DEFAULT_NAMES[:n]]


def edit_summary(directory, **fields):
    path = Path(directory) / SUMMARY_FILE
    summary = json.loads(path.read_text())
    for key, value in fields.items():
        node, *rest = key.split(".")
        if rest:
            summary[node][rest[0]] = value
        else:
            summary[node] = value
    path.write_text(json.dumps(summary))


def wilson_by_hand(k, n):
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return 100 * (centre - half), 100 * (centre + half)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Two runs of fixed*5 that differ: amount 10 survives 12 months, amount 25 collapses in month 1."""
    root = tmp_path_factory.mktemp("mixed")
    run(root / "keep", fixed(10))
    run(root / "greedy", fixed(25))
    return root


def test_survival_rate_has_a_wilson_interval_and_others_are_clipped(mixed):
    table = report.summary_table(report.runs_frame([mixed]))
    (row,) = table.to_dict("records")
    assert row["runs"] == 2 and row["survival_rate"] == 50.0
    low, high = wilson_by_hand(1, 2)  # centre 0.5, half 0.405: [9.45, 90.55]
    assert row["survival_rate_low"] == pytest.approx(low) and row["survival_rate_high"] == pytest.approx(high)
    # survival times 12 and 1: mean 6.5, t(0.975, 1) * 7.78 / sqrt(2) = 69.9 reaches past both ends
    assert row["survival_time"] == 6.5 and (row["survival_time_low"], row["survival_time_high"]) == (0.0, 12.0)
    assert (row["efficiency_low"], row["efficiency_high"]) == (0.0, 1.0)  # efficiencies 1 and 1/6
    assert row["survival_rate_ci"] == pytest.approx((high - low) / 2)
    text = report.to_markdown(table)
    assert f"| 50.00 [{low:.2f}, {high:.2f}] | 6.50 [0.00, 12.00] |" in text


def test_a_group_of_one_shows_no_interval(tmp_path):
    run(tmp_path / "one", "sustainable*5")
    for seed in range(3):
        run(tmp_path / f"greedy{seed}", "greedy*5", seed=seed)
    table = report.summary_table(report.runs_frame([tmp_path]))
    text = report.to_markdown(table)
    (one,) = [line for line in text.splitlines() if "sustainable*5" in line]
    assert one.count("[n/a]") == 6 and "±" not in one and "0.00]" not in one
    (three,) = [line for line in text.splitlines() if "greedy*5" in line]
    # no run survived: Wilson's upper end for 0 of 3 is z^2 / (3 + z^2) = 56.15 %
    assert f"| 3 | 0.00 [0.00, {100 * Z**2 / (3 + Z**2):.2f}] | 1.00 [1.00, 1.00] |" in three


def test_groups_by_model_id_so_fake_and_real_runs_never_pool(tmp_path):
    for name in ("fake", "real", "old"):
        run(tmp_path / name, "sustainable*5")
    edit_summary(tmp_path / "fake", model="m", model_id="fake:m")
    edit_summary(tmp_path / "real", model="m", model_id="vllm:m@1a2b3c4d")
    edit_summary(tmp_path / "old", model="m")  # a summary from before model_id: its model
    path = tmp_path / "old" / SUMMARY_FILE
    summary = json.loads(path.read_text())
    summary.pop("model_id", None)
    path.write_text(json.dumps(summary))
    table = report.summary_table(report.runs_frame([tmp_path]))
    assert sorted(table["model_id"]) == ["fake:m", "m", "vllm:m@1a2b3c4d"] and set(table["runs"]) == {1}


def test_invalid_runs_are_left_out_and_counted(tmp_path):
    for seed in range(3):
        run(tmp_path / f"s{seed}", "sustainable*5", seed=seed)
    for seed in (1, 2):
        edit_summary(tmp_path / f"s{seed}", valid=False, invalid_reason="8 of 10 LLM calls failed")
    frame = report.runs_frame([tmp_path])
    assert list(frame["status"]) == ["ok", "invalid", "invalid"]
    assert report.summary_table(frame)["runs"].tolist() == [1]
    assert report.left_out(frame) == ["2 invalid run(s) left out of the table (invalid: 8 of 10 LLM calls failed)"]


DAMAGE = {
    "metrics_list": {"metrics": [1, 2]},
    "survived_text": {"metrics.survived": "yes"},
    "gain_text": {"metrics.gain": "12"},
    "variant_text": {"metrics.efficiency_full": "high"},
    "counters_list": {"counters": []},
    "counter_float": {"counters.llm_calls": 1.5},
    "agents_list": {"agents": ["sustainable"]},
    "model_list": {"model": ["a", "b"]},
    "valid_text": {"valid": "no"},
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """One good run, one run per kind of summary damage, one with a bad line appended to its events."""
    root = tmp_path_factory.mktemp("damaged")
    run(root / "good", "sustainable*5")
    for name, fields in DAMAGE.items():
        run(root / name, "sustainable*5")
        edit_summary(root / name, **fields)
    run(root / "zbad_line", "sustainable*5")
    with open(root / "zbad_line" / EVENTS_FILE, "a") as fh:
        fh.write('{"type": "harvest", "month": \n')
    (root / "unreadable").mkdir()
    run(root / "unreadable", "sustainable*5")
    (root / "unreadable" / SUMMARY_FILE).write_text("{not json")
    return root


def test_damaged_summaries_are_problems_of_their_run_not_crashes(damaged):
    frame = report.runs_frame([damaged])
    status = {Path(r).name: s for r, s in zip(frame["run"], frame["status"])}
    assert status.pop("good") == "ok" and status.pop("zbad_line") == "ok"
    assert status == dict.fromkeys([*DAMAGE, "unreadable"], "damaged")
    reasons = {Path(r).name: why for r, why in zip(frame["run"], frame["reason"])}
    assert "efficiency_full" in reasons["variant_text"] and "llm_calls" in reasons["counter_float"]
    assert report.summary_table(frame)["runs"].tolist() == [2]  # the good run and the one with a bad event line
    lines = report.left_out(frame)
    assert sum(line.startswith("left out ") for line in lines) == len(DAMAGE) + 1
    (bad_line,) = [line for line in lines if line.startswith("problems in ")]
    assert "zbad_line" in bad_line and "events.jsonl" in bad_line


def test_the_report_command_lists_damage_and_exits_cleanly(damaged):
    result = cli.invoke(app, ["report", str(damaged)])
    assert result.exit_code == 0, result.output
    assert "| fishery | default | - | sustainable*5 | 2 | 100.00 [34.24, 100.00] |" in result.stdout
    assert "left out" in result.stderr and "gain_text: summary is damaged (metrics.gain should be" in result.stderr
    csv_out = cli.invoke(app, ["report", str(damaged), "--format", "csv"])
    assert csv_out.exit_code == 0 and csv_out.stdout.splitlines()[0].startswith(
        "scenario,experiment,model_id,agents,runs,survival_rate,survival_rate_low,survival_rate_high"
    )


def test_parse_failure_rate_is_per_decision(tmp_path):
    from govsim.llm.fake import FakeLLM
    from govsim.llm.pool import LLMPool

    seats = [{"name": n, "type": "generative", "params": {"embedder": "hash"}} for n in DEFAULT_NAMES[:2]]
    pool = LLMPool(config.LLMConfig(backend="fake"), factory=lambda *args: FakeLLM(["Answer: 10"]))
    cfg = config.resolve(overrides={"agents": seats, "months": 1})
    c = runner.run(cfg, tmp_path / "run", pool=pool).summary["counters"]
    (row,) = report.summary_table(report.runs_frame([tmp_path])).to_dict("records")
    assert row["parse_failure_rate"] == pytest.approx(c["parse_failures"] / c["decisions"])
    assert row["parse_failure_rate"] != pytest.approx(c["parse_failures"] / c["llm_calls"])
    # a summary from before the decisions counter and the metric variants: decisions come from its events
    path = tmp_path / "run" / SUMMARY_FILE
    summary = json.loads(path.read_text())
    del summary["counters"]["decisions"], summary["metrics"]["survival_time_full"], summary["metrics"]["efficiency_full"]
    path.write_text(json.dumps(summary))
    table = report.summary_table(report.runs_frame([tmp_path]))
    assert table["parse_failure_rate"].iloc[0] == pytest.approx(c["parse_failures"] / c["decisions"])
    assert "_full" not in report.to_markdown(table)


def test_variants_show_only_where_they_differ(tmp_path):
    run(tmp_path / "newcomer", None, "greedy_newcomer", agent="fixed")
    run(tmp_path / "default", fixed(10))
    table = report.summary_table(report.runs_frame([tmp_path]))
    newcomer = table[table["experiment"] == "greedy_newcomer"].iloc[0]
    assert newcomer["survival_time"] == 12 and newcomer["survival_time_full"] == 15
    assert "survival_time_full" in report.to_markdown(table).splitlines()[0]
    default_only = report.summary_table(report.runs_frame([tmp_path / "default"]))
    assert "survival_time_full" not in report.to_markdown(default_only)


# ---------------------------------------------------------------------------- published numbers


def test_published_tables_are_well_formed():
    lines = [line for line in (ROOT / "govsim" / "published" / "tables.csv").read_text().splitlines()
             if not line.startswith("#")]
    columns = ["source", "table", "experiment", "scenario", "model", "runs"]
    columns += [c for m in report.PAPER_METRICS for c in (m, f"{m}_pm")]
    assert lines[0].split(",") == columns
    labels, experiments = set(report.paper_models().values()), set(config.experiments())
    for row in csv.DictReader(lines):
        assert row["model"] in labels and row["experiment"] in experiments
        assert row["scenario"] in ("fishery", "pasture", "pollution") and row["source"].startswith("arXiv:2404.16698")
        for metric in report.PAPER_METRICS:
            float(row[metric])


def test_model_names_match_the_papers_labels():
    assert report.paper_label("meta-llama/Meta-Llama-3-8B-Instruct") == "Llama-3-8B"
    assert report.paper_label("/models/Meta-Llama-3-8B-Instruct/") == "Llama-3-8B"
    assert report.paper_label("gpt-4o") == "GPT-4o" and report.paper_label("Qwen-110B") == "Qwen-110B"
    with pytest.raises(ValueError, match=r"'embedded' is not a model of the paper; known: Command R\+, DBRX"):
        report.paper_label("embedded")


def test_compare_prints_each_group_beside_the_papers_row(tmp_path, monkeypatch):
    run(tmp_path / "fishery", fixed(10))
    run(tmp_path / "pasture", fixed(10), scenario="pasture")
    table = report.summary_table(report.runs_frame([tmp_path]))
    published = report._published

    def with_a_row(name):  # a made-up row, to test the matching; the real file has none
        rows = published(name)
        if name == "tables.csv":
            rows.append({"source": "arXiv:2404.16698v4", "table": "Table X", "experiment": "default",
                         "scenario": "fishery", "model": "Llama-3-8B", "runs": "5", "survival_rate": "20",
                         "survival_rate_pm": "", "survival_time": "4.5", "survival_time_pm": "3.1"})
        return rows

    monkeypatch.setattr(report, "_published", with_a_row)
    side = report.compare_table(table, "meta-llama/Meta-Llama-3-8B-Instruct")
    assert list(side["source"]) == [
        "govsim", "paper arXiv:2404.16698v4 Table X", "govsim", "paper: no row transcribed (govsim/published/README.md)"
    ]
    paper = side.iloc[1]
    assert paper["model_id"] == "Llama-3-8B" and paper["scenario"] == "fishery"
    assert paper["survival_rate"] == "20.00" and paper["survival_time"] == "4.50 ± 3.10" and paper["gain"] == "-"
    assert side.iloc[0]["survival_time"] == "12.00 [n/a]"


def test_report_compare_option(mixed):
    result = cli.invoke(app, ["report", str(mixed), "--compare", "Llama-3-8B"])
    assert result.exit_code == 0, result.output
    assert "| govsim |" in result.stdout and "paper: no row transcribed" in result.stdout
    bad = cli.invoke(app, ["report", str(mixed), "--compare", "embedded"])
    assert bad.exit_code == 2 and "--compare: 'embedded' is not a model of the paper; known: Command R+" in bad.output


def test_paper_compare_script_runs_the_default_sweep(tmp_path):
    script = ROOT / "experiments" / "paper_compare.py"
    args = [sys.executable, str(script), "Llama-3-8B", "--agent", "conditional", "--months", "2", "--seeds", "0",
            "--out", str(tmp_path)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| fishery", "| fishery", "| pasture", "| pasture",
                                                      "| pollution", "| pollution"]
    assert sum("| govsim | 1 | 100.00 [n/a] | 2.00 [n/a] |" in r for r in rows) == 3
    assert sum("paper: no row transcribed" in r for r in rows) == 3
    bad = subprocess.run([*args[:2], "embedded", "--agent", "conditional"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode != 0 and "not a model of the paper" in bad.stderr
