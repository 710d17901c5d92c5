"""Sweeps: grid expansion, validation, sharding, concurrent runs, reports, reproducibility."""

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from govsim import runner, sweep
from govsim.cli import app
from govsim.config import ConfigError
from govsim.report import km_curves, runs_frame
from govsim.runlog import read_run, strip_timing

cli = CliRunner()
EXPERIMENTS = Path(__file__).parent.parent / "experiments"


def write_sweep(tmp_path, grid, base=None, name="small"):
    path = tmp_path / f"{name}.yaml"
    spec = {"name": name, "base": base or {"agent": "conditional", "months": 3}, "grid": grid}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_paper_sweeps_list_their_cells():
    result = cli.invoke(app, ["sweep", str(EXPERIMENTS / "paper_default.yaml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "15 cells in runs/paper_default: 0 done, 0 to resume, 15 new" in result.output
    cells = sweep.expand(sweep.load(EXPERIMENTS / "paper_default.yaml"), "runs")
    assert {c.config.scenario for c in cells} == {"fishery", "pasture", "pollution"}
    assert {c.config.seed for c in cells} == set(range(5))
    assert all(seat.type == "generative" for c in cells for seat in c.config.agents)
    scripted = sweep.expand(sweep.load(EXPERIMENTS / "paper_default.yaml"), "runs", {"agent": "conditional"})
    assert all(seat.type == "conditional" for c in scripted for seat in c.config.agents)
    newcomer = sweep.expand(sweep.load(EXPERIMENTS / "paper_greedy_newcomer.yaml"), "runs", {"agent": "conditional"})
    assert newcomer[0].config.months == 15 and newcomer[0].config.agents[-1].join_month == 4
    assert len(sweep.expand(sweep.load(EXPERIMENTS / "paper_all.yaml"), "runs")) == 60
    for name in ("universalization", "no_communication", "greedy_newcomer"):
        assert len(sweep.expand(sweep.load(EXPERIMENTS / f"paper_{name}.yaml"), "runs")) == 15


def test_cell_ids_are_deterministic_and_follow_the_settings(tmp_path):
    path = write_sweep(tmp_path, {"regeneration.rule": ["doubling", "logistic"], "seed": "0-2"})
    first = sweep.expand(sweep.load(path), tmp_path)
    assert [c.id for c in first] == [c.id for c in sweep.expand(sweep.load(path), tmp_path)]
    assert len(first) == 6 and first[0].id.startswith("rule-doubling_seed-0_")
    assert first[3].config.regeneration.rule == "logistic" and first[3].directory.parent == tmp_path / "small"
    overridden = sweep.expand(sweep.load(path), tmp_path, {"months": 2})
    assert not {c.id for c in overridden} & {c.id for c in first}  # other settings, other folders
    union = write_sweep(tmp_path, [{"scenario": ["pasture"], "seed": [0]}, {"network": ["ring", "star"], "seed": [1]}], name="u")
    assert [c.settings for c in sweep.expand(sweep.load(union), tmp_path)] == [
        {"scenario": "pasture", "seed": 0}, {"network": "ring", "seed": 1}, {"network": "star", "seed": 1},
    ]


def test_shards_partition_the_cells(tmp_path):
    cells = sweep.expand(sweep.load(write_sweep(tmp_path, {"seed": "0-6"})), tmp_path)
    shards = [sweep.select_shard(cells, f"{i}/3") for i in range(3)]
    assert sorted(c.id for s in shards for c in s) == sorted(c.id for c in cells)
    assert [c.config.seed for c in shards[1]] == [1, 4]
    with pytest.raises(ConfigError, match="0 <= i < n"):
        sweep.select_shard(cells, "3/3")


@pytest.mark.parametrize(
    "grid, base, message",
    [
        ({"colour": ["red"]}, None, "cell colour=red: config: unknown key 'colour'"),
        ({"llm.temp": [1]}, None, "unknown key 'llm.temp'"),
        ({"allocation": ["fair"]}, None, "allocation: Input should be"),
        ({"agent": ["wizard"]}, None, "unknown agent type 'wizard'"),
        ({"network": ["mesh"]}, None, "network: unknown 'mesh'"),
        ({"scenario": ["moon"]}, None, "unknown scenario 'moon'"),
        ({"seed": []}, None, "grid.seed must be a non-empty list"),
        ({"seed": "a-b"}, None, "use a list or a range like 0-4"),
        ({"seed": [0]}, "missing.yaml", "missing.yaml does not exist"),
    ],
)
def test_bad_sweeps_exit_2_with_one_line(tmp_path, grid, base, message):
    path = write_sweep(tmp_path, grid, base=base)
    result = cli.invoke(app, ["sweep", str(path), "--out", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_bad_options_exit_2(tmp_path):
    path = write_sweep(tmp_path, {"seed": [0]})
    for args, message in [
        (["--shard", "x"], "--shard 'x': use i/n"),
        (["--set", "novalue"], "--set 'novalue': use KEY=VALUE"),
        (["--executor", "dask"], "--executor 'dask': use local or ray"),
        (["--max-cells", "0"], "--max-cells and --ray-batch must be >= 1"),
    ]:
        result = cli.invoke(app, ["sweep", str(path), "--out", str(tmp_path), *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    unknown = tmp_path / "bad.yaml"
    unknown.write_text("grid: {seed: [0]}\ncells: 3\n")
    result = cli.invoke(app, ["sweep", str(unknown), "--dry-run"])
    assert result.exit_code == 2 and "unknown key 'cells'" in result.output


def test_sweep_runs_skips_finished_cells_and_reports_by_grid(tmp_path):
    grid = {"network": ["complete", "ring"], "agents": ["conditional*5", "greedy,conditional*4"], "seed": [0, 1]}
    path = write_sweep(tmp_path, grid)
    args = ["sweep", str(path), "--out", str(tmp_path), "--no-progress"]
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "8 cells run, 0 already finished, 0 failed" in first.output
    again = cli.invoke(app, args)
    assert "0 cells run, 8 already finished" in again.output
    listing = cli.invoke(app, [*args, "--dry-run"])
    assert "8 cells in" in listing.output and ": 8 done, 0 to resume, 0 new" in listing.output
    assert json.loads((tmp_path / "small" / "sweep.json").read_text())["keys"] == ["network", "agents", "seed"]

    km_file, csv_file = tmp_path / "km.csv", tmp_path / "table.csv"
    report = cli.invoke(app, ["report", str(tmp_path / "small"), "--km", str(km_file), "--csv", str(csv_file)])
    assert report.exit_code == 0, report.output
    lines = [line for line in report.output.splitlines() if line.startswith("| fishery")]
    assert len(lines) == 4  # network x agent mix; the seeds are the runs of a group
    assert "| network |" in report.output.splitlines()[0]
    assert any("| ring | 2 | 100.00 [34.24, 100.00] |" in line for line in lines)
    assert any("conditional*4,greedy | complete | 2 | 0.00 [0.00, 65.76] | 1.00 [1.00, 1.00] |" in line for line in lines)
    table = pd.read_csv(csv_file)
    columns = {"survival_rate_ci", "gain", "efficiency", "equality", "over_usage", "parse_failure_rate", "runs"}
    assert columns <= set(table.columns)
    km = pd.read_csv(km_file)
    assert list(km.columns) == ["group", "month", "survival", "ci_low", "ci_high"]
    greedy = km[km["group"] == "fishery / default / - / conditional*4,greedy / complete"]
    assert list(greedy["survival"]) == [1.0, 0.0]
    for graph in (tmp_path / "small").glob("*/graph.json"):
        assert json.loads(graph.read_text())["graph"]["network"] in ("complete", "ring")


def test_km_curves_estimate_survival_with_censoring():
    frame = pd.DataFrame(
        {
            "scenario": ["fishery"] * 4 + ["pasture"],
            "finished": [True, True, True, True, False],
            "survived": [False, False, True, True, False],
            "survival_time": [2, 4, 6, 6, 1],
        }
    )
    curves = km_curves(frame, by=["scenario"])
    assert set(curves["group"]) == {"fishery"}
    survival = dict(zip(curves["month"], curves["survival"]))
    assert survival[0] == 1.0 and survival[2] == pytest.approx(0.75)
    assert survival[4] == pytest.approx(0.5) and survival[6] == pytest.approx(0.5)
    assert (curves["ci_low"] <= curves["survival"]).all() and (curves["survival"] <= curves["ci_high"]).all()


def test_max_cells_bounds_how_many_cells_run_at_once(tmp_path, monkeypatch):
    cells = sweep.expand(sweep.load(write_sweep(tmp_path, {"seed": "0-5"})), tmp_path)
    running, peak = set(), []
    original = runner.Episode.run

    async def tracked(self, resume=True):
        running.add(self.directory)
        peak.append(len(running))
        await asyncio.sleep(0.01)
        try:
            return await original(self, resume=resume)
        finally:
            running.discard(self.directory)

    monkeypatch.setattr(runner.Episode, "run", tracked)
    outcomes = asyncio.run(sweep.run_cells(cells, max_cells=2))
    assert max(peak) == 2 and all(not o["skipped"] and "error" not in o for o in outcomes)
    assert all(c.status == "done" for c in cells)


def test_a_failing_cell_is_reported_while_the_others_finish(tmp_path, monkeypatch):
    cells = sweep.expand(sweep.load(write_sweep(tmp_path, {"seed": "0-2"})), tmp_path)
    original = runner.Episode.run

    async def broken(self, resume=True):
        if self.config.seed == 1:
            raise RuntimeError("engine died")
        return await original(self, resume=resume)

    monkeypatch.setattr(runner.Episode, "run", broken)
    outcomes = asyncio.run(sweep.run_cells(cells))
    assert [o.get("error") for o in outcomes] == [None, "RuntimeError: engine died", None]
    assert [c.status for c in cells] == ["done", "new", "done"]


def test_a_cell_rerun_gives_identical_events_and_records_what_made_it(tmp_path):
    path = write_sweep(tmp_path, {"agents": ["random*3,conditional*2"], "seed": [3]},
                       base={"regeneration": {"rule": "stochastic"}})
    (cell,) = sweep.expand(sweep.load(path), tmp_path / "a")
    (again,) = sweep.expand(sweep.load(path), tmp_path / "b")
    assert cell.id == again.id
    asyncio.run(sweep.run_cells([cell]))
    asyncio.run(sweep.run_cells([again]))
    first, second = read_run(cell.directory), read_run(again.directory)
    assert [strip_timing(e) for e in first.events] == [strip_timing(e) for e in second.events]
    assert first.config == cell.config.dump() and first.config["seed"] == 3
    assert first.summary["seed"] == 3 and first.summary["metrics"] == second.summary["metrics"]
    assert {"govsim_version", "git_commit", "git_dirty", "python", "packages"} <= set(first.meta)
    assert "numpy" in first.meta["packages"]
    frame = runs_frame([tmp_path / "a"], keys=["regeneration.rule"])
    assert list(frame["regeneration.rule"]) == ["stochastic"]
