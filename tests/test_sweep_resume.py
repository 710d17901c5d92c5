"""A sweep killed mid-way (SIGKILL, as a crash or a pre-empted job) resumes to the same runs."""

import signal
import subprocess
import sys
import time

import yaml
from typer.testing import CliRunner

from govsim import sweep
from govsim.cli import app
from govsim.runlog import CHECKPOINT_FILE, read_run, strip_timing

CELLS = 10


def comparable(path):
    """Events without timing, sequence numbers and the resume marker (which shifts them)."""
    return [
        {k: v for k, v in strip_timing(e).items() if k != "seq"} for e in read_run(path).events if e["type"] != "run_resumed"
    ]


def test_a_killed_sweep_resumes_to_the_same_runs(tmp_path):
    path = tmp_path / "resume.yaml"
    spec = {"base": {"agents": "random*3,conditional*2", "months": 6}, "grid": {"seed": f"0-{CELLS - 1}"}}
    path.write_text(yaml.safe_dump(spec))
    killed_out, clean_out = tmp_path / "killed", tmp_path / "clean"
    args = ["sweep", str(path), "--set", "regeneration.rule=stochastic", "--max-cells", "1", "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "govsim.cli", *args, "--out", str(killed_out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.time() + 60
    try:
        while not list(killed_out.glob("resume/*/summary.json")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)  # a no-op if it has already exited
        proc.wait()
    cells = sweep.expand(sweep.load(path), killed_out, {"regeneration.rule": "stochastic"})
    statuses = [c.status for c in cells]
    checkpointed = [(c.directory / CHECKPOINT_FILE).exists() for c in cells]
    assert 1 <= statuses.count("done") < CELLS, statuses

    resumed = CliRunner().invoke(app, [*args, "--out", str(killed_out)])
    assert resumed.exit_code == 0, resumed.output
    assert f"{statuses.count('done')} already finished, 0 failed" in resumed.output
    assert CliRunner().invoke(app, [*args, "--out", str(clean_out)]).exit_code == 0
    for cell, status, had_checkpoint in zip(cells, statuses, checkpointed):
        clean = clean_out / cell.directory.relative_to(killed_out)
        assert comparable(cell.directory) == comparable(clean), cell.id
        run = read_run(cell.directory)
        assert run.finished and run.summary["metrics"] == read_run(clean).summary["metrics"]
        if status == "partial":  # killed inside this cell: it went on from its last month checkpoint, if it had one
            assert run.summary["counters"]["resumed"] == int(had_checkpoint), (cell.id, had_checkpoint)
