"""The example plugin under experiments/plugin_example, found through its entry point.

`make test` installs it (pip install -e experiments/plugin_example).
"""

from importlib.metadata import entry_points

import pytest

import agents
from govsim import config, runner

pytestmark = pytest.mark.skipif(
    not any(ep.name == "cautious" for ep in entry_points(group=agents.base.ENTRY_POINT_GROUP)),
    reason="the example plugin is not installed: pip install -e experiments/plugin_example",
)


def test_plugin_agent_is_registered_through_its_entry_point():
    cls = agents.get("cautious")
    assert cls.__module__ == "govsim_cautious"


def test_plugin_agents_run_a_society_mixed_with_builtin_ones(tmp_path):
    cfg = config.resolve(overrides={"agents": "cautious*3,sustainable*2", "agents.0.params": {"margin": 0.2}})
    summary = runner.run(cfg, tmp_path / "run").summary
    harvest = summary["metrics"]["harvest_by_agent"]
    assert summary["metrics"]["survived"]
    assert harvest["John"] == 12 * 2  # floor(0.2 * 10) a month
    assert harvest["Kate"] == 12 * 5 and harvest["Jack"] == 12 * 5 and harvest["Emma"] == 12 * 10


def test_a_bad_plugin_param_is_recorded_as_an_agent_error(tmp_path):
    cfg = config.resolve(overrides={"agents": "cautious*2", "months": 1, "agents.0.params": {"margin": 3}})
    summary = runner.run(cfg, tmp_path / "run").summary
    assert summary["counters"]["agent_errors"] == 1
