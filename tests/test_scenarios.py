"""Scenarios are data: a new commons is one new file, no code."""

import pytest
import yaml

from envs import commons_v0
from govsim import config, runner, scenarios


@pytest.mark.parametrize("name", scenarios.available())
def test_shipped_scenarios_load_and_run(name, tmp_path):
    assert set(scenarios.available()) >= {"fishery", "pasture", "pollution"}
    cfg = config.resolve(overrides={"scenario": name, "agents": "conditional*3", "months": 2})
    assert runner.run(cfg, tmp_path / name).summary["metrics"]["survived"]


def test_a_new_commons_is_one_file(tmp_path):
    data = yaml.safe_load((scenarios.SCENARIO_DIR / "fishery.yaml").read_text())
    data["name"] = "forest"
    data["vocabulary"].update(resource="timber", place="the forest", unit="trees", unit_singular="tree",
                              verb="fell", verb_past="felled", verb_ing="logging",
                              harvester="logger", harvesters="loggers")
    path = tmp_path / "forest.yaml"
    path.write_text(yaml.safe_dump(data))
    env = commons_v0.parallel_env(scenario=str(path))
    obs, _ = env.reset(seed=0)
    assert "100 trees of timber" in obs["John"]["text"]


def test_a_broken_scenario_names_the_problem(tmp_path):
    data = yaml.safe_load((scenarios.SCENARIO_DIR / "fishery.yaml").read_text())
    data["sentences"]["stock_before_harvest"] = "There are {stok} {unit}."
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(scenarios.ScenarioError, match=r"stock_before_harvest: unknown field\(s\) \['stok'\]"):
        scenarios.load(str(path))
