"""The human seat (agents/human.py): played through the runner by a fake channel, bad
answers asked again, the terminal front-end on fed stdin, the same seat as a Gymnasium env
(envs/seat_v0.py), and the dashboard's Play page starting and playing a run."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from agents import human
from govsim import runner
from govsim.cli import app
from govsim.config import resolve
from govsim.phases import NO_LIMIT
from govsim.runlog import read_run, strip_timing

APP = Path(__file__).resolve().parents[1] / "web" / "app.py"
SOCIETY = "human,sustainable*4"  # the person is John: seat 0, first speaker and scribe


def events_of(run_dir: Path, kind: str, agent: str | None = None) -> list[dict]:
    return [e for e in read_run(run_dir).events if e["type"] == kind and (agent is None or e.get("agent") == agent)]


class FakeChannel:
    """Answers each request with ``policy(request)`` and keeps every request and view it got."""

    def __init__(self, policy: Callable[[human.Request], dict[str, Any]]) -> None:
        self.policy = policy
        self.requests: list[human.Request] = []
        self.views: list[human.View] = []

    async def ask(self, request: human.Request) -> dict[str, Any]:
        self.requests.append(request)
        return self.policy(request)

    def show(self, view: human.View) -> None:
        self.views.append(view)


@pytest.fixture
def fake_channel():
    """Register channel 'fake' playing ``policy``; yields the setter, which returns the channel."""
    def use(policy: Callable[[human.Request], dict[str, Any]]) -> FakeChannel:
        channel = FakeChannel(policy)
        human.CHANNELS["fake"] = lambda params, ctx: channel
        return channel

    yield use
    human.CHANNELS.pop("fake", None)


def config(months: int = 2, **overrides: Any):
    return resolve(overrides={"agents": SOCIETY, "months": months, "agents.0.params": {"channel": "fake"}, **overrides})


def steady(request: human.Request) -> dict[str, Any]:
    """A cooperative person: 10 tons, proposes 10, hands the word to the next, agrees 10."""
    phase = request.view.phase
    if phase == "harvest":
        return {"harvest": "10"}
    if phase == "discussion":
        return {"utterance": "Let us keep to 10 tons each.", "end_conversation": "n",
                "next_speaker": request.fields[-1].choices[0]}
    if phase == "summary":
        return {"summary": "We agreed on 10 tons each.", "agreed_limit": "10"}
    return {"reflection": f"Month {request.view.month} went well."}


# ---------------------------------------------------------------------------- the agent through the runner


def test_a_person_plays_a_whole_run_through_the_runner(fake_channel, tmp_path):
    channel = fake_channel(steady)
    result = runner.run(config(), tmp_path / "run")
    run = read_run(tmp_path / "run")
    assert run.finished and not run.problems and result.summary["valid"] is True
    assert result.summary["agents"]["John"] == "human"
    assert [e["wanted"] for e in events_of(tmp_path / "run", "harvest", "John")] == [10, 10]
    said = events_of(tmp_path / "run", "utterance", "John")
    assert [(e["text"], e["next_speaker"], e["end"]) for e in said] == [("Let us keep to 10 tons each.", "Kate", False)] * 2
    assert [(e["text"], e["agreed_limit"]) for e in events_of(tmp_path / "run", "summary")] == [
        ("We agreed on 10 tons each.", 10)] * 2
    assert [e["text"] for e in events_of(tmp_path / "run", "reflection", "John")] == ["Month 1 went well.",
                                                                                      "Month 2 went well."]
    assert result.summary["counters"]["invalid_actions"] == result.summary["counters"]["agent_errors"] == 0
    # asked once per phase it acts in, in order, each with what the seat sees
    assert [(r.view.month, r.view.phase) for r in channel.requests] == [
        (m, p) for m in (1, 2) for p in ("harvest", "discussion", "summary", "reflection")]
    assert all(r.error is None for r in channel.requests)
    harvest, talk, summary, reflection = channel.requests[:4]
    assert harvest.view.stock == 100 and "100 tons" in harvest.view.text and "How many tons" in harvest.question
    assert [f.key for f in harvest.fields] == ["harvest"] and harvest.fields[0].high == 100
    assert talk.view.report.startswith("Mayor:") and "John caught 10 tons" in talk.view.report
    assert talk.fields[-1].choices == ["Kate", "Jack", "Emma", "Luke", "John"]  # info["names"], itself last
    assert [t.speaker for t in summary.view.conversation] == ["John", "Kate", "Jack", "Emma", "Luke"]
    assert "We agreed on 10 tons each." in reflection.view.text and reflection.fields[0].optional
    # while the others speak, the seat is shown what it sees, without being asked
    assert channel.views and not any(v.acting for v in channel.views)


def test_a_seat_that_joins_later_is_first_asked_in_its_month(fake_channel, tmp_path):
    channel = fake_channel(steady)
    cfg = resolve("greedy_newcomer", overrides={
        "agents": "sustainable,sustainable,sustainable,sustainable,human", "months": 4,
        "agents.4.params": {"channel": "fake"}})
    runner.run(cfg, tmp_path / "run")
    assert channel.requests[0].view.month == 4 and channel.requests[0].view.agent == "Luke"
    assert [e["month"] for e in events_of(tmp_path / "run", "harvest", "Luke")] == [4]


# Bad answers, each asked again with its reason, then a good one.
BAD = [
    ("harvest", {"harvest": "lots"}, "harvest: 'lots' is not a whole number; give a whole number from 0 to 100"),
    ("harvest", {"harvest": ""}, "harvest: give a whole number from 0 to 100"),
    ("harvest", {"harvest": "101"}, "harvest: 101 is out of range; give a whole number from 0 to 100"),
    ("harvest", {"harvest": -3}, "harvest: -3 is out of range"),
    ("harvest", {"harvest": True}, "harvest: True is not a whole number"),
    ("harvest", {"harvest": 2.5}, "harvest: 2.5 is not a whole number"),
    ("discussion", {"utterance": "  ", "end_conversation": "n", "next_speaker": "Kate"},
     "utterance: say something; it may not be empty"),
    ("discussion", {"utterance": "x" * 2001, "end_conversation": "y"}, "utterance: 2001 characters is too long"),
    ("discussion", {"utterance": "hi", "end_conversation": "maybe"}, "end_conversation: answer yes or no (got 'maybe')"),
    ("discussion", {"utterance": "hi", "end_conversation": None}, "end_conversation: answer yes or no"),
    ("discussion", {"utterance": "hi", "end_conversation": "n", "next_speaker": "Zoe"},
     "next_speaker: 'Zoe' is not someone you may name; choose one of Kate, Jack, Emma, Luke, John"),
    ("discussion", {"utterance": "hi", "end_conversation": "n"}, "next_speaker: name who speaks next"),
    ("summary", {"summary": "", "agreed_limit": "10"}, "summary: say something"),
    ("summary", {"summary": "ok", "agreed_limit": "ten"}, "agreed_limit: 'ten' is not a whole number; give a whole "
                                                          "number from 0 to 100 or none"),
    ("summary", {"summary": "ok", "agreed_limit": "-2"}, "agreed_limit: -2 is out of range"),
    ("reflection", {"reflection": 7}, "reflection: give text, not a int"),
]


@pytest.mark.parametrize("phase,bad,reason", BAD, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(BAD)])
def test_a_bad_answer_is_asked_again_with_its_reason(fake_channel, tmp_path, phase, bad, reason):
    answered: set[tuple[int, str]] = set()

    def once_bad(request: human.Request) -> dict[str, Any]:
        moment = (request.view.month, request.view.phase)
        if request.view.phase == phase and moment not in answered:
            answered.add(moment)
            return bad
        return steady(request)

    channel = fake_channel(once_bad)
    result = runner.run(config(months=1), tmp_path / "run")
    asked = [r for r in channel.requests if r.view.phase == phase]
    assert len(asked) == 2 and asked[0].error is None
    assert asked[1].error.startswith(reason), asked[1].error
    assert "\n" not in asked[1].error and asked[1].id != asked[0].id and asked[1].view == asked[0].view
    # the good answer is what the env got: nothing clipped, nothing defaulted
    assert result.summary["counters"]["invalid_actions"] == 0 and result.summary["counters"]["agent_errors"] == 0
    assert read_run(tmp_path / "run").finished


def test_the_talk_can_be_ended_and_no_limit_agreed(fake_channel, tmp_path):
    def ending(request: human.Request) -> dict[str, Any]:
        if request.view.phase == "discussion":
            return {"utterance": "Nothing to add.", "end_conversation": "yes", "next_speaker": "nobody"}  # not read
        if request.view.phase == "summary":
            return {"summary": "We did not agree.", "agreed_limit": "none"}
        return steady(request)

    fake_channel(ending)
    result = runner.run(config(months=1), tmp_path / "run")
    said = events_of(tmp_path / "run", "utterance")
    assert [(e["agent"], e["end"], e["next_speaker"]) for e in said] == [("John", True, None)]
    assert events_of(tmp_path / "run", "summary")[0]["agreed_limit"] == NO_LIMIT
    assert result.summary["counters"]["invalid_actions"] == 0


CIVIC = "human,greedy,sustainable*3"  # Kate, greedy, takes the stock: the one seen over the limit


def civic_config(society: str = CIVIC):
    return config(months=1, agents=society, institutions=["election", "sanctions"])


def civic(request: human.Request) -> dict[str, Any]:
    """The steady person who stands with a limit of 10, votes for itself and fines all it may."""
    phase = request.view.phase
    if phase == "agenda":
        return {"agenda_limit": "10", "agenda": "Ten tons each, and fines for the greedy."}
    if phase == "vote":
        return {"vote": "1"}  # the first candidate, by its number: John
    if phase == "sanction":
        return {"sanction": ", ".join(request.fields[0].choices)}
    return steady(request)


def test_a_person_stands_votes_and_fines_in_the_institutions_phases(fake_channel, tmp_path):
    channel = fake_channel(civic)
    result = runner.run(civic_config(), tmp_path / "run")
    assert result.summary["counters"]["invalid_actions"] == result.summary["counters"]["agent_errors"] == 0
    assert [r.view.phase for r in channel.requests][:4] == ["agenda", "vote", "harvest", "sanction"]
    agenda, vote, _, sanction = channel.requests[:4]
    assert [(f.key, f.kind, f.no_limit) for f in agenda.fields] == [("agenda_limit", "amount", True),
                                                                    ("agenda", "text", False)]
    assert vote.fields[0].choices == ["John", "Kate", "Jack", "Emma", "Luke"] and "Kate" in vote.question
    assert sanction.fields[0].choices == ["Kate"] and "Kate caught 60 tons" in sanction.question
    (stood,) = events_of(tmp_path / "run", "agenda", "John")
    assert (stood["limit"], stood["text"]) == (10, "Ten tons each, and fines for the greedy.")
    assert events_of(tmp_path / "run", "vote", "John")[0]["candidate"] == "John"
    assert [e["target"] for e in events_of(tmp_path / "run", "sanction", "John")] == ["Kate"]


def test_with_nobody_to_fine_the_seat_is_not_asked_and_fines_nobody(fake_channel, tmp_path):
    channel = fake_channel(civic)
    result = runner.run(civic_config(SOCIETY), tmp_path / "run")
    assert "sanction" not in [r.view.phase for r in channel.requests]
    (done,) = events_of(tmp_path / "run", "sanctions_done")
    assert done["given"]["John"] == [] and result.summary["counters"]["invalid_actions"] == 0


CIVIC_BAD = [
    ("agenda", {"agenda_limit": "many", "agenda": "Ten."}, "agenda_limit: 'many' is not a whole number"),
    ("agenda", {"agenda_limit": "10", "agenda": ""}, "agenda: say something"),
    ("vote", {"vote": "Zoe"}, "vote: 'Zoe' is not someone you may name; choose one of John, Kate, Jack, Emma, Luke"),
    ("vote", {"vote": ""}, "vote: name whom you vote for; choose one of"),
    ("vote", {"vote": "9"}, "vote: '9' is not someone you may name"),
    ("sanction", {"sanction": "Kate, John"}, "sanction: 'John' is not someone you may name; choose one of Kate"),
    ("sanction", {"sanction": 3}, "sanction: give names, not a int; choose from Kate"),
]


@pytest.mark.parametrize("phase,bad,reason", CIVIC_BAD, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(CIVIC_BAD)])
def test_a_bad_answer_in_an_institutions_phase_is_asked_again(fake_channel, tmp_path, phase, bad, reason):
    answered: set[str] = set()

    def once_bad(request: human.Request) -> dict[str, Any]:
        if request.view.phase == phase and phase not in answered:
            answered.add(phase)
            return bad
        return civic(request)

    channel = fake_channel(once_bad)
    result = runner.run(civic_config(), tmp_path / "run")
    asked = [r for r in channel.requests if r.view.phase == phase]
    assert len(asked) == 2 and asked[1].error.startswith(reason), [r.error for r in asked]
    assert "\n" not in asked[1].error
    assert result.summary["counters"]["invalid_actions"] == result.summary["counters"]["agent_errors"] == 0


def test_a_names_field_reads_none_one_or_several():
    field = human.Field(key="sanction", kind="names", label="whom you fine", choices=["Kate", "Jack"])
    assert [field.read(raw) for raw in ("", "none", "kate", "2, Kate", "Kate,,Kate", ["Jack"])] == [
        [], [], ["Kate"], ["Jack", "Kate"], ["Kate"], ["Jack"]]
    assert field.hint() == "1: Kate, 2: Jack; several comma-separated, Enter for nobody"


def test_the_seat_checks_its_params_when_built(tmp_path):
    from govsim import preflight
    from govsim.config import ConfigError

    with pytest.raises(ConfigError, match=r"unknown channel 'pigeon'; known: .*files.*terminal"):
        preflight.check_configs([resolve(overrides={"agents": SOCIETY, "agents.0.params": {"channel": "pigeon"}})])
    with pytest.raises(ConfigError, match=r"channel 'files' needs params.folder"):
        preflight.check_configs([resolve(overrides={"agents": SOCIETY, "agents.0.params": {"channel": "files"}})])
    with pytest.raises(ConfigError, match=r"unknown params.colour"):
        preflight.check_configs([resolve(overrides={"agents": SOCIETY, "agents.0.params": {"colour": "red"}})])


# ---------------------------------------------------------------------------- the files channel


def test_the_files_channel_takes_answers_from_another_thread(tmp_path):
    """The browser's side of the protocol: a pending request, a stale answer ignored, leaving."""
    import threading

    folder = tmp_path / "human"
    cfg = resolve(overrides={"agents": SOCIETY, "months": 1,
                             "agents.0.params": {"channel": "files", "folder": str(folder)}})
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(_run_catching(cfg, tmp_path / "run")), daemon=True)
    thread.start()
    answers = iter([{"harvest": "lots"}, {"harvest": 7},
                    {"utterance": "Seven each.", "end_conversation": "no", "next_speaker": "Kate"},
                    {"summary": "Seven each.", "agreed_limit": 7}])
    seen = []
    while len(seen) < 4:
        request = _wait_for(folder, seen)
        assert not human.answer(folder, "not-its-id", {"harvest": 1})  # a stale tab's answer is refused
        seen.append(request)
        assert human.answer(folder, request.id, next(answers))
    reflection = _wait_for(folder, seen)
    assert reflection.view.phase == "reflection" and "Seven each." in reflection.view.text
    assert human.last_view(folder) is not None  # what the seat saw while the others spoke
    assert human.leave(folder, reflection.id)
    thread.join(10)
    assert isinstance(outcome[0], human.SeatLeft)
    assert [r.error for r in seen] == [None, "harvest: 'lots' is not a whole number; give a whole number from 0 to 100",
                                       None, None]
    assert [e["wanted"] for e in events_of(tmp_path / "run", "harvest", "John")] == [7]
    assert not read_run(tmp_path / "run").finished  # left: unfinished, resumable
    assert not (folder / human.REQUEST_FILE).exists()


def _run_catching(cfg, out):
    try:
        return runner.run(cfg, out)
    except human.SeatLeft as exc:
        return exc


def _wait_for(folder: Path, seen: list[human.Request]) -> human.Request:
    deadline = time.monotonic() + 10
    ids = {r.id for r in seen}
    while time.monotonic() < deadline:
        now = human.pending(folder)
        if now is not None and now[0].id not in ids:
            return now[0]
        time.sleep(0.02)
    raise AssertionError("no new request came")


# ---------------------------------------------------------------------------- the terminal


MONTH = ["10", "Ten each, please.", "n", "2", "We agreed on ten.", "10", "Fine."]  # harvest .. reflection


def test_the_terminal_plays_a_run_from_stdin(tmp_path):
    lines = ["many", "200", *MONTH[:2], "perhaps", *MONTH[2:], *MONTH]
    result = CliRunner().invoke(app, ["run", "--agents", SOCIETY, "--months", "2", "--out", str(tmp_path),
                                      "--no-progress"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "== John · month 1 · harvest · 2024-01-01 ==" in out and "the lake holds 100 tons of fish" in out
    assert "! harvest: 'many' is not a whole number; give a whole number from 0 to 100" in out
    assert "! harvest: 200 is out of range" in out and "! end_conversation: answer yes or no (got 'perhaps')" in out
    assert "who speaks next? [1: Kate, 2: Jack, 3: Emma, 4: Luke, 5: John]" in out
    run_dir = tmp_path / "seed0"
    said = events_of(run_dir, "utterance", "John")
    assert [(e["text"], e["next_speaker"]) for e in said] == [("Ten each, please.", "Jack")] * 2
    assert [e["agreed_limit"] for e in events_of(run_dir, "summary")] == [10, 10]
    assert read_run(run_dir).finished and read_run(run_dir).summary["counters"]["invalid_actions"] == 0


def test_leaving_at_the_terminal_stops_the_run_and_running_again_resumes(tmp_path):
    args = ["run", "--agents", SOCIETY, "--months", "2", "--out", str(tmp_path), "--no-progress"]
    left = CliRunner().invoke(app, args, input="\n".join([*MONTH, "/quit"]) + "\n")
    assert left.exit_code == 1
    assert "John left the seat in month 2 (harvest): the run is unfinished; run the same command again" in left.output
    assert "Traceback" not in left.output and not read_run(tmp_path / "seed0").finished
    ended = CliRunner().invoke(app, args, input="")  # end of input leaves too
    assert ended.exit_code == 1 and "left the seat in month 2" in ended.output
    resumed = CliRunner().invoke(app, args, input="\n".join(MONTH) + "\n")
    assert resumed.exit_code == 0, resumed.output
    run = read_run(tmp_path / "seed0")
    assert run.finished and len(run.of_type("run_resumed")) == 2
    assert [e["month"] for e in run.of_type("harvest") if e["agent"] == "John"] == [1, 2]


# ---------------------------------------------------------------------------- Gymnasium


def gym_env(**overrides: Any):
    from envs import seat_v0

    return seat_v0.env(seat="John", **{"agents": SOCIETY, "months": 3, **overrides})


def test_the_seat_env_passes_gymnasiums_checker():
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    from envs import seat_v0

    env = gym.make(seat_v0.GYM_ID, seat="John", agents=SOCIETY, months=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # advice on Box ranges and render fps, not failures
        check_env(env.unwrapped)
    env.close()
    with pytest.raises(ValueError, match="seat 'Zoe': give a seat's name or index; seats: John, Kate"):
        seat_v0.env(seat="Zoe", agents=SOCIETY)
    with pytest.raises(ValueError, match="joins in month 4; the Gymnasium seat must sit from month 1"):
        seat_v0.env(seat="Luke", experiment="greedy_newcomer")


def valid_action(env, obs, info, rng: np.random.Generator) -> dict[str, Any]:
    """A random action with only the keys the phase reads, each in range."""
    names = [s.name for s in env.config.agents]
    values = {
        "harvest": np.array([rng.integers(0, int(obs["stock"][0]) + 1)]),
        "utterance": f"I say {rng.integers(100)}.",
        "end_conversation": int(rng.integers(2)),
        "next_speaker": names.index(info["names"][int(rng.integers(len(info["names"])))]) if info["names"] else 0,
        "summary": "A summary.",
        "agreed_limit": np.array([rng.integers(-1, 21)]),
        "reflection": "",
    }
    return {key: values[key] for key in info["action_keys"]}


def test_the_seat_env_plays_an_episode_with_random_valid_actions():
    env = gym_env(agents="human,sustainable,greedy,random,conditional")
    rng = np.random.default_rng(5)
    obs, info = env.reset(seed=3)
    assert obs in env.observation_space and info["action_keys"] == ["harvest"] and obs["acting"] == 1
    total, steps, keys = 0.0, 0, set()
    while True:
        action = valid_action(env, obs, info, rng)
        keys.add(tuple(action))
        obs, reward, terminated, truncated, info = env.step(action)
        total, steps = total + reward, steps + 1
        assert obs in env.observation_space and not truncated
        if terminated:
            break
        assert obs["acting"] == 1 and info["action_keys"]
    events = env.drain_events()
    mine = [e for e in events if e.get("agent") == "John"]
    assert not [e for e in mine if e["type"] == "invalid_action"]
    assert total == sum(e["caught"] for e in mine if e["type"] == "harvest") > 0
    assert obs["phase"] == 4 and info["action_keys"] == [] and events[-1]["type"] == "run_ended"
    assert ("harvest",) in keys and ("reflection",) in keys and ("summary", "agreed_limit") in keys
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({})
    env.close()


def test_the_seat_env_plays_the_runners_episode(fake_channel, tmp_path):
    """Same seed, same actions: the env's events are the runner's, the person's answers being the actions."""
    env = gym_env(agents="human,generative,sustainable,greedy,random", **{"llm.backend": "fake",
                                                                          "agents.1.params": {"embedder": "hash"}})
    rng = np.random.default_rng(1)
    obs, info = env.reset(seed=4)
    played: list[dict[str, Any]] = []
    while True:
        action = valid_action(env, obs, info, rng)
        played.append(action)
        obs, _, terminated, _, info = env.step(action)
        if terminated:
            break
    gym_events = env.drain_events()
    env.close()
    names = [s.name for s in env.config.agents]
    answers = iter(played)

    def replay(request: human.Request) -> dict[str, Any]:
        action = dict(next(answers))
        for key in ("harvest", "agreed_limit"):
            if key in action:
                action[key] = int(action[key][0])
        if "next_speaker" in action:
            action["next_speaker"] = names[action["next_speaker"]]
        return action

    fake_channel(replay)
    cfg = env.config.model_copy(update={"seed": 4, "agents": [
        s.model_copy(update={"params": {"channel": "fake"}}) if s.name == "John" else s for s in env.config.agents]})
    runner.run(cfg, tmp_path / "run")
    kinds = {"harvest", "utterance", "summary", "reflection", "month_ended", "llm_call", "insight", "memory"}
    ours = [_comparable(e) for e in gym_events if e["type"] in kinds]
    theirs = [_comparable(e) for e in read_run(tmp_path / "run").events if e["type"] in kinds]
    assert len(ours) > 20 and ours == theirs


def _comparable(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the run log holds it (JSON types), without its timing and numbering."""
    return {k: v for k, v in strip_timing(json.loads(json.dumps(event))).items() if k not in ("v", "seq")}


# ---------------------------------------------------------------------------- the Play page


def test_the_play_page_starts_a_run_and_plays_it(monkeypatch, tmp_path):
    from web import ui

    monkeypatch.setenv(ui.ROOT_ENV, str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/play.py").run()
    assert not at.exception and "No played runs under this folder yet" in _texts(at)
    at.number_input(key="play_months_default").set_value(1)
    at.text_input(key="play_folder").set_value("play/mine")
    at.button(key="play_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run_dir = tmp_path / "play" / "mine"
    cfg = json.loads((run_dir / "config.json").read_text())
    assert [s["type"] for s in cfg["agents"]] == ["human"] + ["sustainable"] * 4
    assert cfg["agents"][0]["params"] == {"channel": "files", "folder": str(run_dir / "human")}
    answers = {"harvest": [None, 12], "utterance": ["Twelve each?"], "end_conversation": ["yes"],
               "next_speaker": [None],
               "summary": ["We said twelve."], "agreed_limit": [12], "reflection": ["Twelve was fine."]}
    asked = _answer_on_page(at, run_dir, answers)
    assert asked[:2] == ["harvest", "harvest: give a whole number from 0 to 100"]
    assert asked[2:] == ["discussion", "summary", "reflection"]
    assert "The run is over" in _texts(at)
    run = read_run(run_dir)
    assert [e["wanted"] for e in run.of_type("harvest") if e["agent"] == "John"] == [12]
    assert [(e["text"], e["agreed_limit"]) for e in run.of_type("summary")] == [("We said twelve.", 12)]
    # the run is one of the dashboard's runs
    at.switch_page("views/runs.py").run()
    assert "play/mine" in set(at.dataframe[0].value["name"])


def _answer_on_page(at: AppTest, run_dir: Path, answers: dict[str, list[Any]]) -> list[str]:
    """Answer every question the page shows through its widgets until the run is over: each
    key's answers in turn, the last one again (None: left empty); what was asked, or why again."""
    asked: list[str] = []
    deadline = time.monotonic() + 60
    while not (run_dir / "summary.json").exists() and time.monotonic() < deadline:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if not at.get("form"):
            time.sleep(0.2)
            continue
        request = human.pending(run_dir / "human")[0]
        asked.append(request.error or request.view.phase)
        widget = {"amount": at.number_input, "text": at.text_area, "flag": at.radio, "name": at.selectbox,
                  "names": at.multiselect}  # of this render's tree
        for f in request.fields:
            value = answers[f.key].pop(0) if len(answers[f.key]) > 1 else answers[f.key][0]
            if value is not None:
                widget[f.kind](key=f"play_{request.id}_{f.key}").set_value(value)
        at.button(key=f"FormSubmitter:play_form_{request.id}-Answer").click()
    at.run()
    assert (run_dir / "summary.json").exists(), asked
    return asked


def test_the_play_page_fines_several_at_once(monkeypatch, tmp_path):
    """The sanction's names field is a multiselect: the person fines both greedy seats in one answer.

    The page offers no institutions, so the run (election and sanctions) is begun here and
    left at its first question; the page resumes it, as it does any run nobody plays."""
    from web import ui

    monkeypatch.setenv(ui.ROOT_ENV, str(tmp_path))
    run_dir = tmp_path / "play" / "fines"
    cfg = config(months=1, agents="human,greedy,greedy,sustainable*2", institutions=["election", "sanctions"],
                 **{"agents.0.params": {"channel": "files", "folder": str(run_dir / "human")}})
    with ThreadPoolExecutor(1) as pool:
        begun = pool.submit(runner.run, cfg, run_dir)
        deadline = time.monotonic() + 30
        while human.pending(run_dir / "human") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert human.leave(run_dir / "human", human.pending(run_dir / "human")[0].id)
        with pytest.raises(human.SeatLeft):
            begun.result(timeout=30)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.query_params["run"] = "play/fines"
    at.switch_page("views/play.py").run()
    at.button(key="play_resume").click()
    answers = {"agenda_limit": [10], "agenda": ["Ten each."], "vote": ["John"], "harvest": [10],
               "sanction": [["Kate", "Jack"]], "utterance": ["Ten each."], "end_conversation": ["yes"],
               "next_speaker": [None], "summary": ["Ten each."], "agreed_limit": [10], "reflection": [None]}
    asked = _answer_on_page(at, run_dir, answers)
    assert asked[:4] == ["agenda", "vote", "harvest", "sanction"]
    assert [e["target"] for e in read_run(run_dir).of_type("sanction") if e["agent"] == "John"] == ["Kate", "Jack"]


def _texts(at: AppTest) -> str:
    parts = [el.value for kind in ("title", "markdown", "caption", "info", "warning", "error", "success", "subheader")
             for el in getattr(at, kind)]
    return "\n".join(map(str, parts + [e.label for e in at.expander] + [f"{m.label} {m.value}" for m in at.metric]))


def _start_on_page(monkeypatch, root: Path, name: str) -> AppTest:
    from web import ui

    monkeypatch.setenv(ui.ROOT_ENV, str(root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/play.py").run()
    at.number_input(key="play_months_default").set_value(1)
    at.text_input(key="play_folder").set_value(name)
    at.button(key="play_start").click().run()
    return at


def _question(at: AppTest, folder: Path) -> human.Request:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if at.get("form"):
            return human.pending(folder)[0]
        time.sleep(0.1)
    raise AssertionError("the page showed no question")


def test_a_second_tab_sees_the_question_and_a_left_run_resumes(monkeypatch, tmp_path):
    at = _start_on_page(monkeypatch, tmp_path, "play/left")
    folder = tmp_path / "play" / "left" / "human"
    first = _question(at, folder)
    other = AppTest.from_file(str(APP), default_timeout=60)  # a second tab: the same question from the folder
    other.run()
    other.query_params["run"] = "play/left"
    other.switch_page("views/play.py").run()
    assert [f.key for f in other.get("form")] == [f"play_form_{first.id}"]
    at.button(key=f"play_leave_{first.id}").click().run()
    deadline = time.monotonic() + 10
    while "Resume the run" not in [b.label for b in at.button] and time.monotonic() < deadline:
        time.sleep(0.1)
        at.run()
    shown = _texts(at)
    assert "John left the seat in month 1: the run is unfinished; resume it" in shown
    assert "Nobody plays this run now" in shown and "from the beginning of month 1" in shown
    assert not read_run(tmp_path / "play" / "left").finished
    at.button(key="play_resume").click().run()
    again = _question(at, folder)
    assert again.id != first.id and again.view.phase == "harvest" and again.view.month == 1
    assert len(read_run(tmp_path / "play" / "left").of_type("run_resumed")) == 1
    assert human.leave(folder, again.id)  # and the thread ends
