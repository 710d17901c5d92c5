"""Malformed input ends as one line and exit code 2, or as a recorded invalid_action event.

CLI cases run the command as a user would (typer's CliRunner, or a subprocess where the
open-file limit must be set); env cases drive ``commons_v0`` directly.
"""

import json
import math
import os
import resource
import subprocess
import sys

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from envs import actions, commons_v0
from govsim import scenarios
from govsim.cli import app
from govsim.config import seat_names
from govsim.phases import AGREED_LIMIT, END_CONVERSATION, HARVEST, NEXT_SPEAKER, SUMMARY, UTTERANCE, Phase

cli = CliRunner()


def one_line_error(args, cwd=None):
    """The single line of a failed ``govsim run`` (asserting exit code 2 and no traceback)."""
    result = cli.invoke(app, ["run", "--no-progress", *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def fishery(tmp_path, name, change):
    """A copy of the fishery scenario file with one change."""
    data = yaml.safe_load((scenarios.SCENARIO_DIR / "fishery.yaml").read_text())
    change(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ------------------------------------------------------------------------------ seats


def test_more_seats_than_names_get_names_of_their_own(tmp_path):
    result = cli.invoke(app, ["run", "--agents", "sustainable*20", "--months", "1", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    seats = [a["name"] for a in json.loads((tmp_path / "seed0" / "config.json").read_text())["agents"]]
    assert len(seats) == 20 and len(set(seats)) == 20
    assert seats[:10] == seat_names(10) and seats[10] == "John2"
    assert "sustainable*20" in result.output


def test_seat_count_has_a_stated_limit(tmp_path):
    assert "at most 1000 seats" in one_line_error(["--agents", "sustainable*5000", "--out", str(tmp_path)])
    assert "n_agents" in one_line_error(["--set", "n_agents=1001", "--out", str(tmp_path)])


# ------------------------------------------------------------------------------ config files, seeds, --out


def test_binary_config_file(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "not a text file" in one_line_error(["--config", str(path)])


def test_config_path_that_is_a_directory(tmp_path):
    assert "is a directory; give a YAML file" in one_line_error(["--config", str(tmp_path)])


def test_yaml_duplicate_keys_are_refused_with_key_and_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("months: 3\nscenario: fishery\nmonths: 4\n")
    line = one_line_error(["--config", str(path)])
    assert "line 3" in line and "key 'months' appears twice (first on line 1)" in line


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    from govsim.config import load_file

    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {months: 3, scenario: pasture}\nrun:\n  <<: *b\n  months: 4\n")
    assert load_file(path)["run"] == {"months": 4, "scenario": "pasture"}


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--seeds", "9223372036854775808"], ["--set", "seed=-3"]])
def test_negative_or_huge_seed(tmp_path, args):
    assert "a seed must be a whole number from 0 to 2**63-1" in one_line_error([*args, "--out", str(tmp_path)])


@pytest.mark.parametrize("seeds, message", [("1,1", "seed 1 is given twice"), ("5-3", "give at least one seed"),
                                            ("0-99999999999", "at most 100000 seeds")])
def test_seed_lists_that_cannot_run(tmp_path, seeds, message):
    assert message in one_line_error(["--seeds", seeds, "--out", str(tmp_path)])


def test_out_is_an_existing_file(tmp_path):
    file = tmp_path / "taken"
    file.write_text("x")
    assert f"--out {file}: is a file" in one_line_error(["--out", str(file)])


def test_out_cannot_be_made(tmp_path):
    file = tmp_path / "taken"
    file.write_text("x")
    assert "cannot make it (Not a directory)" in one_line_error(["--out", str(file / "runs")])


def test_a_run_folder_that_is_a_file(tmp_path):
    (tmp_path / "seed0").write_text("x")
    assert "seed0 is a file, where a run's folder goes" in one_line_error(["--out", str(tmp_path)])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_is_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert "not writable" in one_line_error(["--out", str(locked)])


# ------------------------------------------------------------------------------ agents and scenario templates


def test_unknown_scripted_params_are_refused(tmp_path):
    line = one_line_error(["--agents", "fixed*2", "--set", "agents.0.params={amout: 3}", "--out", str(tmp_path)])
    assert "agent John: unknown params.amout; type 'fixed' takes amount" in line
    line = one_line_error(["--agents", "greedy*2", "--set", "agents.1.params={amount: 3}", "--out", str(tmp_path)])
    assert "agent Kate: unknown params.amount; type 'greedy' takes no params" in line


def test_bad_scripted_param_values_are_refused(tmp_path):
    line = one_line_error(["--agents", "fixed*2", "--set", "agents.0.params={amount: lots}", "--out", str(tmp_path)])
    assert "params.amount: Input should be a valid integer" in line
    line = one_line_error(["--agents", "conditional*2", "--set", "agents.0.params={default: -2}", "--out", str(tmp_path)])
    assert "params.default: Input should be greater than or equal to 0" in line


def test_generative_params_are_checked_before_anything_runs(tmp_path):
    line = one_line_error(["--agents", "generative*2", "--backend", "fake", "--set", "agents.0.params={recal: 3}",
                           "--out", str(tmp_path / "o")])
    assert "agent John" in line and "unknown params" in line and "recal" in line
    assert not (tmp_path / "o").exists()  # nothing was started


def test_a_prompt_with_an_unknown_field_is_one_line_before_the_run(tmp_path):
    path = fishery(tmp_path, "typo", lambda d: d["prompts"].__setitem__("harvest", d["prompts"]["harvest"] + " {memorys}"))
    line = one_line_error(["--scenario", str(path), "--agents", "generative*2", "--backend", "fake",
                           "--set", "agents.0.params={embedder: hash}", "--set", "agents.1.params={embedder: hash}",
                           "--out", str(tmp_path / "o")])
    assert "prompts.harvest" in line and "memorys" in line


@pytest.mark.parametrize("template", ["You are {name", "You are {name!r}", "{0} and {}", "{name.upper}", "{name:>9}"])
def test_a_bad_prompt_placeholder_is_one_line(tmp_path, template):
    path = fishery(tmp_path, "bad", lambda d: d["prompts"].__setitem__("system", template))
    assert f"scenario file {path}: prompts.system:" in one_line_error(["--scenario", str(path), "--out", str(tmp_path)])


def test_a_bad_scripted_template_fails_when_the_scenario_loads(tmp_path):
    path = fishery(tmp_path, "typo", lambda d: d["scripted"].__setitem__("propose", "at most {limt} {unit}"))
    line = one_line_error(["--scenario", str(path), "--out", str(tmp_path)])
    assert "scripted.propose: unknown field(s) ['limt']" in line


def test_scripted_agents_need_their_lines(tmp_path):
    path = fishery(tmp_path, "mute", lambda d: d["scripted"].pop("reflection"))
    assert "lacks scripted.reflection" in one_line_error(["--scenario", str(path), "--out", str(tmp_path)])


# ------------------------------------------------------------------------------ the open-file limit


def govsim_with_file_limit(args, soft, hard, cwd):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return subprocess.run([sys.executable, "-m", "govsim.cli", "run", "--no-progress", *args],
                          capture_output=True, text=True, preexec_fn=limit, cwd=cwd, timeout=120)


def test_too_many_seeds_for_the_open_file_limit(tmp_path):
    done = govsim_with_file_limit(["--seeds", "0-1099", "--out", str(tmp_path)], 128, 128, tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "1100 runs at once" in lines[0] and "the limit is 128" in lines[0] and "ulimit -n" in lines[0]
    assert "govsim sweep" in lines[0]


def test_a_low_soft_limit_is_raised_up_to_the_hard_one(tmp_path):
    done = govsim_with_file_limit(["--seeds", "0-99", "--months", "1", "--out", str(tmp_path)], 40, 4096, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("seed*/summary.json"))) == 100


def test_running_out_of_files_mid_run_is_one_line():
    from govsim.cli import _os_problem

    line = _os_problem(OSError(24, "Too many open files", "runs/x/events.jsonl"), "run fewer seeds at once")
    assert line == ("runs/x/events.jsonl: too many open files: raise the limit (ulimit -n) or run fewer seeds at once; "
                    "run again to resume")


# ------------------------------------------------------------------------------ env actions


def harvest_with(value, n=2):
    env = commons_v0.parallel_env(n_agents=n)
    env.reset(seed=0)
    _, rewards, _, _, infos = env.step({"John": {HARVEST: value}, **{a: {HARVEST: 1} for a in env.agents[1:]}})
    events = env.drain_events()
    wanted = next(e["wanted"] for e in events if e["type"] == "harvest" and e["agent"] == "John")
    invalid = [e for e in events if e["type"] == "invalid_action" and e["agent"] == "John"]
    for e in events:
        json.dumps(e, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return env, wanted, invalid


@pytest.mark.parametrize(
    "value, wanted, fix",
    [
        (float("inf"), 0, "not a finite number; used 0"),
        (float("-inf"), 0, "not a finite number; used 0"),
        (float("nan"), 0, "not a finite number; used 0"),
        (0.9, 0, "not a whole number; rounded down to 0"),
        (7.0, 7, "a float, read as 7"),
        (complex(7, 3), 0, "a complex number, not a real one; used 0"),
        ("7", 7, "a string, read as 7"),
        ("lots", 0, "a string that is not a number; used 0"),
        (True, 0, "a boolean, not a number; used 0"),
        ([7], 7, "a list of one value"),
        (np.array([[7]]), 7, "an array of shape (1, 1)"),
        (np.array([1, 2]), 0, "an array of 2 values, not one number; used 0"),
        pytest.param(10**5000, 100, "out of range [0, 100]; clipped to 100", id="10**5000"),
        (None, 0, "None given; counted as missing"),
    ],
)
def test_coerced_or_refused_harvests_are_recorded(value, wanted, fix):
    _, used, invalid = harvest_with(value)
    assert used == wanted
    assert len(invalid) == 1 and fix in invalid[0]["fix"], invalid


@pytest.mark.parametrize("value", [7, np.int32(7), np.array([7])])
def test_the_action_spaces_own_forms_are_read_unrecorded(value):
    _, used, invalid = harvest_with(value)
    assert used == 7 and invalid == []


def test_an_infinite_harvest_does_not_break_resuming():
    env, _, _ = harvest_with(float("inf"))
    while env.phase != Phase.HARVEST:
        env.step({a: {UTTERANCE: "ok", NEXT_SPEAKER: 0, END_CONVERSATION: 1, SUMMARY: "s", AGREED_LIMIT: float("inf"),
                      "reflection": "r"} for a in env.agents})
    state = json.loads(json.dumps(env.state_dict(), allow_nan=False))
    fresh = commons_v0.parallel_env(n_agents=2)
    fresh.load_state_dict(state)
    fresh.step({a: {HARVEST: float("inf")} for a in fresh.agents})
    assert fresh.phase == Phase.DISCUSSION


def discussion_env():
    env = commons_v0.parallel_env(n_agents=2)
    env.reset(seed=0)
    env.step({a: {HARVEST: 1} for a in env.agents})
    env.drain_events()
    return env


def speak(env, **action):
    _, _, _, _, infos = env.step({a: action for a in env.agents})
    events = env.drain_events()
    return events, [e for e in events if e["type"] == "invalid_action"]


def test_a_lone_surrogate_is_replaced_before_it_enters_an_event():
    env = discussion_env()
    events, invalid = speak(env, **{UTTERANCE: "fish \ud800 and \udfff", NEXT_SPEAKER: 0, END_CONVERSATION: 1})
    utterance = next(e for e in events if e["type"] == "utterance")
    assert utterance["text"] == "fish \ufffd and \ufffd"
    assert any("2 character(s) UTF-8 cannot encode" in e["fix"] for e in invalid)
    for e in events:
        json.dumps(e, ensure_ascii=False).encode("utf-8")


def test_a_megabyte_action_is_not_copied_whole_into_an_event():
    env = discussion_env()
    big = "x" * 1_000_000
    events, invalid = speak(env, **{UTTERANCE: big, NEXT_SPEAKER: big, END_CONVERSATION: big})
    assert {e["key"] for e in invalid} == {UTTERANCE, NEXT_SPEAKER, END_CONVERSATION}
    assert all(len(json.dumps(e)) < 1000 for e in invalid)
    assert "(1000000 characters)" in next(e for e in invalid if e["key"] == UTTERANCE)["value"]
    assert len(next(e for e in events if e["type"] == "utterance")["text"]) == commons_v0.MAX_UTTERANCE


@pytest.mark.parametrize("value, end, recorded", [(True, True, False), (1, True, False), (np.array([0]), False, False),
                                                  (5, True, True), (float("nan"), False, True), ("yes", False, True)])
def test_end_conversation_flags(value, end, recorded):
    env = discussion_env()
    events, invalid = speak(env, **{UTTERANCE: "hi", NEXT_SPEAKER: 0, END_CONVERSATION: value})
    assert next(e for e in events if e["type"] == "utterance")["end"] == end
    assert any(e["key"] == END_CONVERSATION for e in invalid) == recorded


@pytest.mark.parametrize("value", [float("inf"), 1.0, True, "\ud800", object()])
def test_odd_next_speakers_are_recorded_not_raised(value):
    env = discussion_env()
    _, invalid = speak(env, **{UTTERANCE: "hi", NEXT_SPEAKER: value, END_CONVERSATION: 0})
    assert [e["key"] for e in invalid] == [NEXT_SPEAKER]


def test_non_text_is_refused_as_text():
    env = discussion_env()
    events, invalid = speak(env, **{UTTERANCE: 42, NEXT_SPEAKER: 0, END_CONVERSATION: 1})
    assert next(e for e in events if e["type"] == "utterance")["text"] == ""
    assert "not text (a int)" in next(e for e in invalid if e["key"] == UTTERANCE)["fix"]


def test_shown_values_are_json_and_bounded():
    class NoRepr:
        def __repr__(self):
            raise RuntimeError

    for value in [10**5000, float("nan"), "\ud800" * 500, b"\xff" * 10**6, NoRepr(), list(range(10**5)), np.zeros(10**6)]:
        text = json.dumps(actions.shown(value), ensure_ascii=False, allow_nan=False)
        assert len(text) < 300 and text.encode("utf-8")
    assert math.isnan(float(actions.shown(float("nan"))))  # 'nan', a string JSON can hold
