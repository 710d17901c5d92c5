"""The example plugin under experiments/plugin_example, found through its entry point.

`make test` installs it (pip install -e experiments/plugin_example).
"""

from importlib.metadata import entry_points

import pytest
from typer.testing import CliRunner

import agents
from govsim import config, preflight, runner
from govsim.cli import app
from govsim.config import ConfigError

pytestmark = pytest.mark.skipif(
    not any(ep.name == "cautious" for ep in entry_points(group=agents.base.ENTRY_POINT_GROUP)),
    reason="the example plugin is not installed: pip install -e experiments/plugin_example",
)


def test_plugin_agent_is_registered_through_its_entry_point():
    cls = agents.get("cautious")
    assert cls.__module__ == "govsim_cautious"
    assert "cautious" in agents.names() and cls.Params.__name__ == "CautiousParams"


def test_plugin_agents_run_a_society_mixed_with_builtin_ones(tmp_path):
    cfg = config.resolve(overrides={"agents": "cautious*3,sustainable*2", "agents.0.params": {"margin": 0.2}})
    summary = runner.run(cfg, tmp_path / "run").summary
    harvest = summary["metrics"]["harvest_by_agent"]
    assert summary["metrics"]["survived"]
    assert harvest["John"] == 12 * 2  # floor(0.2 * 10) a month
    assert harvest["Kate"] == 12 * 5 and harvest["Jack"] == 12 * 5 and harvest["Emma"] == 12 * 10


def test_a_bad_plugin_param_is_refused_before_the_run(tmp_path):
    cfg = config.resolve(overrides={"agents": "cautious*2", "months": 1, "agents.0.params": {"margin": 3}})
    with pytest.raises(ConfigError, match=r"^agent John: params.margin: Input should be less than or equal to 1 \(got 3\); "
                                          r"type 'cautious' takes margin; fix the seat's params$"):
        preflight.check_configs([cfg])
    with pytest.raises(ValueError, match=r"^agent John: params.margin"):  # the runner builds it the same way
        runner.run(cfg, tmp_path / "run")


def test_a_plugin_param_typo_ends_govsim_run_with_one_line(tmp_path):
    result = CliRunner().invoke(app, ["run", "--no-progress", "--agents", "cautious*2", "--set", "agents.1.params={margn: 0.3}",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: agent Kate: unknown params.margn; type 'cautious' takes margin; fix the seat's params")
