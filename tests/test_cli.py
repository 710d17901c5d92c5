"""The govsim command line, run as a user would."""

import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from govsim.cli import app

cli = CliRunner()


def test_run_prints_the_metrics_table_and_resumes(tmp_path):
    args = ["run", "--agents", "sustainable*5", "--seeds", "0-1", "--out", str(tmp_path), "--no-progress"]
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    row = "| fishery | default | - | sustainable*5 | 2 | 100.00 [34.24, 100.00] | 12.00 [12.00, 12.00] | 120.00 [120.00, 120.00]"
    assert row in first.output
    again = cli.invoke(app, args)
    assert again.output.count("already finished") == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "foo=1"], "unknown key 'foo'; allowed here:"),
        (["--set", "llm.nope=1"], "unknown key 'llm.nope'"),
        (["--set", "allocation=fair"], "allocation: Input should be 'stochastic' or 'proportional'"),
        (["--months", "0"], "months: Input should be greater than or equal to 1"),
        (["--experiment", "bogus"], "experiment: unknown 'bogus'; allowed: default"),
        (["--scenario", "moon"], "unknown scenario 'moon': use one of fishery, pasture, pollution"),
        (["--agents", "wizard*5"], "unknown agent type 'wizard'; known:"),
        (["--seeds", "a-b"], "--seeds 'a-b': use a range like 0-4"),
        (["--set", "novalue"], "--set 'novalue': use KEY=VALUE"),
        (["--agents", "fixed*2", "--set", "agents=[{name: A, type: greedy}]"], "--set agents=... and the option for agents"),
        (["--months", "2", "--set", "months=3"], "--set months=... and the option for months both give it"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = cli.invoke(app, ["run", "--out", str(tmp_path), "--no-progress", *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output


def test_malformed_config_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: fishery\n  months: [\n")
    result = cli.invoke(app, ["run", "--config", str(bad), "--no-progress"])
    assert result.exit_code == 2 and "not valid YAML" in result.output


def test_config_file_and_overrides(tmp_path):
    file = tmp_path / "cfg.yaml"
    seat = {"name": "Ada", "type": "fixed", "params": {"amount": 3}}
    file.write_text(yaml.safe_dump({"scenario": "pollution", "agents": [seat], "months": 3}))
    result = cli.invoke(app, ["run", "-c", str(file), "--set", "months=2", "--out", str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "| pollution | default | - | fixed | 1 | 100.00 [n/a] | 2.00 [n/a] | 6.00 [n/a]" in result.output


def test_report_markdown_and_csv(tmp_path):
    cli.invoke(app, ["run", "--agents", "greedy*5", "--seeds", "0-2", "--out", str(tmp_path / "g"), "--no-progress"])
    cli.invoke(app, ["run", "--agents", "sustainable*5", "--seed", "0", "--out", str(tmp_path / "s"), "--no-progress"])
    md = cli.invoke(app, ["report", str(tmp_path)])
    assert md.exit_code == 0
    assert "| fishery | default | - | greedy*5 | 3 | 0.00 [0.00, 56.15] | 1.00 [1.00, 1.00] | 20.00 [20.00, 20.00]" in md.output
    csv = cli.invoke(app, ["report", str(tmp_path), "--format", "csv"])
    assert csv.output.splitlines()[0].startswith(
        "scenario,experiment,model_id,agents,runs,survival_rate,survival_rate_low,survival_rate_high,survival_rate_ci"
    )
    assert cli.invoke(app, ["report", str(tmp_path / "nothing")]).exit_code == 2


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "govsim.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout and "report" in out.stdout


def test_a_sweep_checks_every_cell_before_running_any(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({
        "name": "bad", "base": {"months": 1, "agents": [{"name": "Ada", "type": "fixed"}, {"name": "Bo", "type": "fixed"}]},
        "grid": {"agents.1.params": [{"amount": 3}, {"amont": 3}]},
    }))
    result = cli.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o"), "--no-progress"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "agent Bo: unknown params.amont; type 'fixed' takes amount" in lines[0]
    assert not (tmp_path / "o").exists()


def test_a_sweep_whose_out_is_a_file(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump({"name": "ok", "base": {"months": 1}, "grid": {"seed": [0, 1]}}))
    taken = tmp_path / "taken"
    taken.write_text("x")
    result = cli.invoke(app, ["sweep", str(path), "--out", str(taken), "--no-progress"])
    assert result.exit_code == 2 and f"--out {taken}: is a file" in result.output, result.output
