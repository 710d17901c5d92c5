"""The Ray executor: a small scripted sweep on a local cluster (loopback only)."""

import pytest
import yaml
from typer.testing import CliRunner

from govsim import sweep
from govsim.cli import app
from govsim.runlog import read_run, strip_timing
from govsim.sweep_ray import runs_local_model

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def test_a_sweep_runs_as_ray_tasks_and_matches_in_process(tmp_path, local_ray):
    path = tmp_path / "tiny.yaml"
    grid = {"network": ["complete", "ring"], "seed": [0, 1, 2]}
    path.write_text(yaml.safe_dump({"base": {"agent": "conditional", "months": 3}, "grid": grid}))
    args = ["sweep", str(path), "--executor", "ray", "--ray-batch", "2", "--ray-num-cpus", "0.5", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "ray")])
    assert result.exit_code == 0, result.output
    assert "6 cells run, 0 already finished, 0 failed" in result.output
    again = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "ray")])
    assert "0 cells run, 6 already finished" in again.output

    cells = sweep.expand(sweep.load(path), tmp_path / "local")
    sweep.run_local(cells, max_cells=None, resume=True, progress=False)
    for cell in cells:
        remote = tmp_path / "ray" / cell.directory.relative_to(tmp_path / "local")
        assert [strip_timing(e) for e in read_run(remote).events] == [strip_timing(e) for e in read_run(cell.directory).events]
        assert (remote / "graph.json").exists()


def test_a_failing_task_is_reported_and_the_others_finish(tmp_path, local_ray):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"base": {"agent": "conditional", "months": 2}, "grid": {"seed": [0, 1]}}))
    cells = sweep.expand(sweep.load(path), tmp_path)
    (tmp_path / "tiny").mkdir()
    cells[1].directory.write_text("a file where the run folder should be")
    from govsim.sweep_ray import run_ray

    outcomes = run_ray(cells, progress=False)
    assert "error" not in outcomes[0] and cells[0].status == "done"
    assert "error" in outcomes[1]


def test_gpu_request_follows_the_backend(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"base": {"agent": "generative"}, "grid": {"llm.backend": ["vllm", "openai"]}}))
    local, remote = sweep.expand(sweep.load(path), tmp_path)
    assert runs_local_model([local]) and not runs_local_model([remote])
    assert not runs_local_model(sweep.expand(sweep.load(path), tmp_path, {"agent": "conditional"}))
