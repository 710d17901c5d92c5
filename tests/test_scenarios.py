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


def write_fishery(tmp_path, change, name="changed"):
    data = yaml.safe_load((scenarios.SCENARIO_DIR / "fishery.yaml").read_text())
    change(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("section, key, text, problem", [
    ("scripted", "propose", "at most {limt}", r"scripted.propose: unknown field\(s\) \['limt'\]"),
    ("scripted", "summary", "{proposal} and {caught}", r"scripted.summary: unknown field\(s\) \['caught'\]"),
    ("sentences", "harvest_report", "{caught:d} {unit}", r"placeholder '\{caught:d\}' is not a plain \{field\}"),
    ("sentences", "agent_joined", "{} joined", r"placeholder '\{\}' is not a plain"),
    ("prompts", "system", "You are {name.title}", r"placeholder '\{name.title\}'"),
    ("personas", "local", "You are {name", r"personas.local: bad template"),
])
def test_every_template_is_checked_when_the_scenario_loads(tmp_path, section, key, text, problem):
    path = write_fishery(tmp_path, lambda d: d[section].__setitem__(key, text))
    with pytest.raises(scenarios.ScenarioError, match=problem) as caught:
        scenarios.load(str(path))
    assert "\n" not in str(caught.value)


def test_a_scenario_file_with_a_key_twice_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    text = (scenarios.SCENARIO_DIR / "fishery.yaml").read_text()
    path.write_text(text.replace("sentences:\n", "sentences:\n  agent_joined: \"{name} is here.\"\n", 1))
    with pytest.raises(scenarios.ScenarioError, match=r"line \d+: .*key 'agent_joined' appears twice"):
        scenarios.load(str(path))


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_bytes(b"\xff\xfe\x00\x01"), "not a text file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_text("- a list\n"), "Input should be a valid dictionary"),
])
def test_unreadable_scenario_files_are_one_line(tmp_path, make, problem):
    path = tmp_path / "odd.yaml"
    make(path)
    with pytest.raises(scenarios.ScenarioError, match=problem):
        scenarios.load(str(path))


def test_every_template_check_words_its_error_the_same_way(tmp_path):
    from agents.generative import templates
    from govsim import templating

    with pytest.raises(templating.TemplateError) as caught:
        templating.check("{stok} {unit}", "sentences.x", {"stock"}, {"unit"})
    assert str(caught.value) == "sentences.x: unknown field(s) ['stok']; allowed: ['stock'] and the scenario's vocabulary"
    fishery = scenarios.load("fishery")
    bad = fishery.model_copy(update={"prompts": {**fishery.prompts, "harvest": "{stok} {unit}"}})
    with pytest.raises(ValueError, match=r"^scenario 'fishery': prompts.harvest: unknown field\(s\) \['stok'\]; allowed: \["):
        templates.check(bad)
