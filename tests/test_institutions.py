"""Institutions as pluggable phases of the month (issue 14)."""

import importlib.util
import json
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from typer.testing import CliRunner

from envs import commons_v0, fuzz
from govsim import config, institutions, metrics, report, runner, scenarios, sweep
from govsim import events as schema
from govsim.cli import app
from govsim.config import ConfigError, LLMConfig
from govsim.institutions.election import AGENDA, AGENDA_LIMIT, VOTE
from govsim.institutions.sanctions import SANCTION
from govsim.llm import LLMPool
from govsim.llm.fake import FakeLLM
from govsim.phases import NO_LIMIT, Phase, month_plan
from govsim.runlog import EVENTS_FILE, read_run, strip_timing

DATA = Path(__file__).parent / "data"
_spec = importlib.util.spec_from_file_location("make_baseline_events", DATA / "make_baseline_events.py")
baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baseline)


def recorded() -> dict[str, list[dict]]:
    cases = defaultdict(list)
    for line in baseline.FILE.read_text().splitlines():
        row = json.loads(line)
        cases[row["case"]].append(row["event"])
    return cases


RECORDED = recorded()


def test_the_baseline_covers_every_case():
    assert set(RECORDED) == set(baseline.CASES)


@pytest.mark.parametrize("name", list(baseline.CASES))
def test_the_recorded_configs_give_the_recorded_events(name, tmp_path):
    assert baseline.run_case(name, tmp_path / name) == RECORDED[name]


@pytest.mark.parametrize("name", ["sustainable4_greedy_3m", "no_communication", "generative_fake"])
def test_an_empty_institutions_list_is_the_paper_month(name, tmp_path):
    assert baseline.run_case(name, tmp_path / name, {"institutions": []}) == RECORDED[name]


# ---------------------------------------------------------------------------- the month as phases

SETS = [["election"], ["sanctions"], ["election", "sanctions"]]
IDS = ["election", "sanctions", "both"]
ROOT = Path(__file__).resolve().parents[1]


def test_institutions_put_their_phases_into_the_month():
    env = commons_v0.parallel_env(institutions=["sanctions", "election"])
    assert env.plan == (Phase.AGENDA, Phase.VOTE, Phase.HARVEST, Phase.SANCTION, Phase.DISCUSSION, Phase.SUMMARY,
                        Phase.REFLECTION)
    assert commons_v0.parallel_env().plan == (Phase.HARVEST, Phase.DISCUSSION, Phase.SUMMARY, Phase.REFLECTION)
    with pytest.raises(ValueError, match="placed twice"):
        month_plan([{Phase.VOTE: Phase.HARVEST}, {Phase.VOTE: Phase.HARVEST}])
    assert set(institutions.REGISTRY) == set(config.INSTITUTIONS)


def test_every_institution_event_type_is_in_the_schema():
    for kind in ("agenda", "vote", "election", "limit_announced", "sanction", "sanctions_done"):
        assert kind in schema.EVENTS and schema.EVENTS[kind].required


@pytest.mark.parametrize("overrides, problem", [
    ({"institutions": ["council"]}, "institutions.0: Input should be 'election' or 'sanctions'"),
    ({"institutions": ["election", "election"]}, "each at most once"),
    ({"election.candidates": ["Bob"]}, r"election.candidates: \['Bob'\] not seats"),
    ({"experiment": "greedy_newcomer", "election.candidates": ["Luke"]}, "at least one candidate must sit from month 1"),
    ({"sanctions.cost": 0}, "sanctions.cost: Input should be greater than 0"),
    ({"election.term": 0}, "election.term"),
])
def test_bad_institution_settings_are_one_line(overrides, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        config.resolve(overrides.get("experiment", "default"), overrides=overrides)
    assert "\n" not in str(caught.value)


def test_one_institution_may_be_named_without_a_list():
    assert config.resolve(overrides={"institutions": "election"}).institutions == ["election"]


def test_a_scenario_without_an_institutions_sentences_says_so_in_one_line(tmp_path):
    data = yaml.safe_load((scenarios.SCENARIO_DIR / "fishery.yaml").read_text())
    del data["sentences"]["leader_limit"]
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(data))
    commons_v0.parallel_env(scenario=str(path))  # fine without the election
    with pytest.raises(ValueError, match="lacks the election sentences leader_limit"):
        commons_v0.parallel_env(scenario=str(path), institutions=["election"])
    result = CliRunner().invoke(app, ["run", "--scenario", str(path), "--set", "institutions=election",
                                      "--out", str(tmp_path / "runs"), "--no-progress"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "lacks the election sentences leader_limit" in lines[0]


@pytest.mark.parametrize("institutions_on", SETS, ids=IDS)
@pytest.mark.parametrize("experiment", ["default", "no_communication"])
def test_pettingzoo_api_and_seed_with_institutions(institutions_on, experiment):
    kwargs = {"experiment": experiment, "months": 4, "institutions": institutions_on, "election": {"term": 2}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(commons_v0.parallel_env(**kwargs), num_cycles=300)
        api_test(commons_v0.env(**kwargs), num_cycles=300)
        parallel_seed_test(lambda: commons_v0.parallel_env(**kwargs))
        seed_test(lambda: commons_v0.env(**kwargs))


FUZZED = ["election", "sanctions", "election_sanctions", "institutions_newcomer"]


@pytest.mark.parametrize("name", FUZZED)
def test_random_actions_with_each_institution_keep_the_envs_promises(name):
    figures = fuzz.fuzz(fuzz.CONFIGS[name], 2500, seed=11, name=name)
    assert figures.steps == 2500 and figures.episodes > 1 and figures.resumes > 0 and figures.invalid_actions > 0
    if "election" in fuzz.CONFIGS[name]["institutions"]:
        assert figures.elections > 10
    if "sanctions" in fuzz.CONFIGS[name]["institutions"]:
        assert figures.fines > 0


# ---------------------------------------------------------------------------- the election, step by step


def play(env, policy, until=lambda env: False):
    """Step the env with ``policy(env, agent, infos[agent])`` for each acting agent; the events."""
    observations, infos = env.reset(seed=env.config.seed)
    log = []
    while env.agents and not until(env):
        actions = {a: policy(env, a, infos[a], observations[a]) for a in env.agents if infos[a]["acting"]}
        observations, rewards, _, _, infos = env.step(actions)
        log += [{**e, "_rewards": rewards} if e["type"] == "sanctions_done" else e for e in env.drain_events()]
    return log, observations, infos


def simple(votes=None, harvest=10, sanction=()):
    """Everyone harvests ``harvest`` (a dict by agent for some), stands for 10, votes by ``votes`` (agent: value)."""
    def policy(env, agent, info, obs):
        phase = env.phase
        if phase == Phase.AGENDA:
            return {AGENDA_LIMIT: 8 if agent == "Kate" else NO_LIMIT, AGENDA: f"{agent} for mayor"}
        if phase == Phase.VOTE:
            return {VOTE: (votes or {}).get(agent, "Kate")} if (votes or {}).get(agent, "Kate") is not None else {}
        if phase == Phase.HARVEST:
            return {"harvest": harvest.get(agent, 10) if isinstance(harvest, dict) else harvest}
        if phase == Phase.SANCTION:
            return {SANCTION: list(sanction) if agent != "Luke" else []}
        if phase == Phase.DISCUSSION:
            return {"utterance": "hi", "end_conversation": 1}
        if phase == Phase.SUMMARY:
            return {"summary": "done", "agreed_limit": int(obs["agreed_limit"][0])}
        return {"reflection": ""}
    return policy


def test_votes_elect_a_leader_who_announces_its_limit_and_chairs_the_talk():
    env = commons_v0.parallel_env(months=4, institutions=["election"], election={"term": 2})
    log, _, _ = play(env, simple())
    elections = [e for e in log if e["type"] == "election"]
    assert [e["month"] for e in elections] == [1, 3]  # a term of 2 months
    assert elections[0]["leader"] == "Kate" and elections[0]["votes"]["Kate"] == 5 and not elections[0]["tie"]
    assert [e["limit"] for e in log if e["type"] == "limit_announced"] == [8, 8, 8, 8]
    assert all(e["first_speaker"] == "Kate" for e in log if e["type"] == "discussion_started")
    assert all(e["agent"] == "Kate" for e in log if e["type"] == "summary")
    agendas = [e for e in log if e["type"] == "agenda" and e["month"] == 1]
    assert [(e["agent"], e["limit"]) for e in agendas][:2] == [("John", NO_LIMIT), ("Kate", 8)]
    for event in log:
        assert not schema.problems({"v": 2, "seq": 0, **event}), event


def test_the_harvest_text_tells_the_election_and_the_leaders_limit():
    env = commons_v0.parallel_env(institutions=["election"])
    obs, infos = env.reset(seed=0)
    assert Phase(int(obs["John"]["phase"])) == Phase.AGENDA and infos["John"]["acting"]
    assert "electing a leader for the next 3 months" in obs["John"]["text"]
    obs, _, _, _, infos = env.step({a: {AGENDA_LIMIT: 8, AGENDA: "vote me"} for a in env.agents})
    assert "John would set a limit of 8 tons" in obs["Kate"]["text"] and "vote me" in str(obs["Kate"]["agendas"])
    assert obs["Kate"]["candidates"].tolist() == [1, 1, 1, 1, 1]
    obs, _, _, _, infos = env.step({a: {VOTE: 1} for a in env.agents})  # a seat index: Kate
    assert Phase(int(obs["John"]["phase"])) == Phase.HARVEST and int(obs["John"]["leader"]) == 1
    assert "Kate won the election with 5 of 5 votes" in obs["John"]["text"]
    assert "Kate, the leader, has set this month's limit: nobody catches more than 8 tons" in obs["John"]["text"]
    assert int(obs["John"]["agreed_limit"][0]) == 8 and infos["John"]["leader"] == "Kate"


def test_invalid_votes_and_ties_are_recorded_never_silent():
    votes = {"John": "Kate", "Kate": "Nobody", "Jack": 17, "Emma": None, "Luke": "John"}
    env = commons_v0.parallel_env(months=1, institutions=["election"], seed=3)
    log, _, _ = play(env, simple(votes=votes))
    cast = {e["agent"]: e for e in log if e["type"] == "vote"}
    assert cast["John"]["valid"] and cast["Luke"]["candidate"] == "John"
    assert [a for a, e in cast.items() if not e["valid"]] == ["Kate", "Jack", "Emma"]
    assert cast["Emma"]["reason"] == "no vote given"
    invalid = {(e["agent"], e["key"]) for e in log if e["type"] == "invalid_action"}
    assert {("Kate", "vote"), ("Jack", "vote"), ("Emma", "vote")} <= invalid
    (election,) = [e for e in log if e["type"] == "election"]
    assert election["invalid"] == 3 and election["tie"] and election["tied"] == ["John", "Kate"]
    assert election["leader"] in ("John", "Kate")
    leaders = set()
    for seed in range(12):  # the draw is seeded: the same seed, the same leader; other seeds differ
        env = commons_v0.parallel_env(months=1, institutions=["election"], seed=seed)
        again = commons_v0.parallel_env(months=1, institutions=["election"], seed=seed)
        first = [e["leader"] for e in play(env, simple(votes=votes))[0] if e["type"] == "election"]
        assert first == [e["leader"] for e in play(again, simple(votes=votes))[0] if e["type"] == "election"]
        leaders.update(first)
    assert leaders == {"John", "Kate"}


def test_only_the_configured_candidates_stand():
    env = commons_v0.parallel_env(months=1, institutions=["election"], election={"candidates": ["Jack", "Emma"]})
    log, _, _ = play(env, simple(votes={a: "Jack" for a in ["John", "Kate", "Jack", "Emma", "Luke"]}))
    assert [e["agent"] for e in log if e["type"] == "agenda"] == ["Jack", "Emma"]
    assert [e["leader"] for e in log if e["type"] == "election"] == ["Jack"]


# ---------------------------------------------------------------------------- sanctions, step by step


def test_fines_cost_the_fining_agent_and_take_the_fine_from_the_one_over_the_limit():
    env = commons_v0.parallel_env(months=2, institutions=["election", "sanctions"], sanctions={"cost": 2, "fine_ratio": 1.5})
    harvest = {"John": 8, "Kate": 8, "Jack": 8, "Emma": 8, "Luke": 20}  # the limit is Kate's 8
    log, _, _ = play(env, simple(harvest=harvest, sanction=["Luke", "John", "Kate"]))
    month1 = [e for e in log if e["month"] == 1]
    fines = [e for e in month1 if e["type"] == "sanction"]
    assert {(e["agent"], e["target"], e["cost"], e["fine"], e["caught"], e["limit"]) for e in fines} == {
        (a, "Luke", 2.0, 3.0, 20, 8) for a in ("John", "Kate", "Jack", "Emma")
    }
    (done,) = [e for e in month1 if e["type"] == "sanctions_done"]
    assert done["over"] == ["Luke"] and done["given"]["John"] == ["Luke"] and done["given"]["Luke"] == []
    rewards = done["_rewards"]
    assert rewards["Luke"] == -12.0 and rewards["John"] == -2.0  # four fines of 3; one fine of cost 2
    refused = [e for e in month1 if e["type"] == "invalid_action" and e["key"] == "sanction"]
    assert {(e["agent"], e["value"]) for e in refused} >= {("John", "John"), ("Kate", "Kate"), ("Kate", "John")}
    assert any("an agent cannot fine itself" in e["fix"] for e in refused)
    assert any("8 is not over the limit of 8" in e["fix"] for e in refused)
    report_text = [e["report"] for e in month1 if e["type"] == "discussion_started"][0]
    assert "John paid the value of 2 tons to fine Luke the value of 3 tons." in report_text


def test_without_a_limit_or_a_public_report_nobody_can_be_fined():
    env = commons_v0.parallel_env(months=2, institutions=["sanctions"])  # month 1: no limit agreed yet
    obs, infos = env.reset(seed=0)
    obs, *_, infos = env.step({a: {"harvest": 30 if a == "Luke" else 5} for a in env.agents})
    assert Phase(int(obs["John"]["phase"])) == Phase.SANCTION and infos["John"]["sanctionable"] == []
    assert "No limit was in force this month" in obs["John"]["text"]
    env = commons_v0.parallel_env(experiment="no_communication", institutions=["election", "sanctions"], months=1)
    log, _, _ = play(env, simple(harvest={"Luke": 30}, sanction=["Luke"]))
    assert not [e for e in log if e["type"] == "sanction"]
    assert any("its catch was not made public" in e["fix"] for e in log if e["type"] == "invalid_action")


def test_a_mask_in_seat_order_is_the_action_spaces_own_form():
    env = commons_v0.parallel_env(months=1, institutions=["election", "sanctions"])
    env.reset(seed=0)
    env.step({a: {AGENDA_LIMIT: 8, AGENDA: ""} for a in env.agents})
    env.step({a: {VOTE: "Kate"} for a in env.agents})
    obs, *_, infos = env.step({a: {"harvest": 20 if a == "Luke" else 5} for a in env.agents})
    assert obs["John"]["sanctionable"].tolist() == [0, 0, 0, 0, 1] and infos["John"]["sanction_catches"] == {"Luke": 20}
    mask = np.array([0, 0, 0, 0, 1], dtype=np.int8)
    obs, rewards, *_ = env.step({a: {SANCTION: mask if a == "John" else []} for a in env.agents})
    assert rewards == {"John": -1.0, "Kate": 0.0, "Jack": 0.0, "Emma": 0.0, "Luke": -3.0}
    assert obs["Luke"]["fines_received"].tolist() == [3.0] and obs["John"]["sanction_costs"].tolist() == [1.0]
    assert not [e for e in env.drain_events() if e["type"] == "invalid_action"]


# ---------------------------------------------------------------------------- runs, metrics, reports


cli = CliRunner()


def events_in(path):
    return [json.loads(line) for line in (path / EVENTS_FILE).read_text().splitlines()]


@pytest.mark.parametrize("institutions_on", SETS, ids=IDS)
def test_a_scripted_society_runs_12_months_with_every_phase_in_the_log(institutions_on, tmp_path):
    setting = f"institutions=[{', '.join(institutions_on)}]"
    result = cli.invoke(app, ["run", "--agents", "sustainable*3,conditional,fixed", "--set", setting,
                              "--set", "agents.4.params.amount=11", "--out", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    log = events_in(tmp_path / "seed0")
    phases = {e["phase"] for e in log if "phase" in e}
    summary = json.loads((tmp_path / "seed0" / "summary.json").read_text())
    assert max(e["month"] for e in log if e["type"] == "month_started") == 12
    assert {"harvest", "discussion", "summary", "reflection"} <= phases
    if "election" in institutions_on:
        assert {"agenda", "vote"} <= phases
        assert len([e for e in log if e["type"] == "election"]) == summary["counters"]["elections"] == 4
        assert summary["counters"]["votes"] == 20 and summary["counters"]["invalid_votes"] == 0
        assert sum(summary["metrics"]["leader_months_by_agent"].values()) == 12
    if "sanctions" in institutions_on:
        assert "sanction" in phases
        fines = [e for e in log if e["type"] == "sanction"]
        assert fines and all(e["target"] == "Luke" for e in fines)  # the fixed 11 over the limit of 10
        assert summary["counters"]["sanctions"] == len(fines)
        m = summary["metrics"]
        assert m["sanctions_received_by_agent"]["Luke"] == len(fines) == sum(m["sanctions_given_by_agent"].values())
        assert m["gain_before_sanctions"] == m["gain"]
        lost = sum(m["sanction_costs_by_agent"].values()) + sum(m["fines_by_agent"].values())
        assert m["gain_after_sanctions"] == pytest.approx(m["gain"] - lost / 5)
        # deterred: once fined, the fixed agent keeps to the limit
        first = min(e["month"] for e in fines)
        later = [e["wanted"] for e in log if e["type"] == "harvest" and e["agent"] == "Luke" and e["month"] > first]
        assert later and set(later) == {10}
    for event in log:
        assert not schema.problems(event), event


REPLIES = {
    **baseline.REPLIES, "agenda": " Ten each keeps the lake full.\n", "agenda_limit": "10", "vote": "Kate",
    "sanction": "yes",
}


def scripted_fake(overrides=None, greedy="Jack"):
    def reply(request):
        tags = request.tag_dict
        if tags.get("purpose") == "harvest_amount" and tags.get("agent") == greedy:
            return "40"
        return (overrides or {}).get(tags.get("purpose"), REPLIES.get(tags.get("purpose"), "5"))

    return FakeLLM(reply)


def run_generative(tmp_path, institutions_on, fake, months=2, name="g"):
    cfg = config.resolve(overrides={"agents": "generative*3", "months": months, "llm.backend": "fake",
                                    "institutions": institutions_on, "seed": 3})
    for seat in cfg.agents:
        seat.params = {"embedder": "hash"}
    runner.run(cfg, tmp_path / name, pool=LLMPool(LLMConfig(backend="fake"), factory=lambda *a: fake))
    return read_run(tmp_path / name)


def test_a_generative_society_takes_part_in_both_institutions(tmp_path):
    run = run_generative(tmp_path, ["election", "sanctions"], scripted_fake())
    assert not run.problems
    purposes = {e["purpose"] for e in run.of_type("llm_call")}
    assert {"agenda", "agenda_limit", "vote", "sanction"} <= purposes
    assert [(e["agent"], e["limit"], e["text"]) for e in run.of_type("agenda")][0] == (
        "John", 10, "Ten each keeps the lake full.")
    assert [e["leader"] for e in run.of_type("election")] == ["Kate"]
    agenda_call = next(e for e in run.of_type("llm_call") if e["purpose"] == "agenda")
    assert "\n\n" in agenda_call["sampling"]["stop"]  # not a run to the token bound
    fines = run.of_type("sanction")
    assert fines and {e["target"] for e in fines} == {"Jack"} and {e["agent"] for e in fines} == {"John", "Kate"}
    sanction_calls = [e for e in run.of_type("llm_call") if e["purpose"] == "sanction"]
    assert all(e["phase"] == "sanction" and e["constraint"] for e in sanction_calls)
    assert "Jack caught 40 tons" in sanction_calls[0]["messages"][0]["content"]
    kept = [e["text"] for e in run.of_type("memory") if e["agent"] == "John"]
    assert any("Kate, the leader, has set this month's limit" in t for t in kept)
    assert any("to fine Jack" in t for t in kept)
    assert run.summary["counters"]["sanctions"] == len(fines)


def test_the_agenda_sentence_is_the_first_line_with_words():
    from agents.generative.agenda import first_line

    assert first_line("\nTen each keeps the lake full.\nTask: ...") == "Ten each keeps the lake full."
    assert first_line(' "Ten each."') == "Ten each."
    assert first_line("\n \n") is None


def test_unreadable_institution_decisions_are_parse_failures_with_reported_fallbacks(tmp_path):
    # no limit from the agendas; month 2 has the one the talk agreed, so the fines are asked then
    fake = scripted_fake({"agenda": "\n", "agenda_limit": "maybe", "vote": "whoever", "sanction": "perhaps",
                          "summarize_limit": "10"})
    fake.supports_constraints = False  # the replies are taken as they come
    run = run_generative(tmp_path, ["election", "sanctions"], fake, months=2)
    failed = {e["purpose"] for e in run.of_type("parse_failure")}
    assert {"agenda", "agenda_limit", "vote", "sanction"} <= failed
    used = {(e["purpose"], json.dumps(e["used"])) for e in run.of_type("fallback")}
    assert {("agenda", '""'), ("agenda_limit", "-1"), ("vote", '"no vote"'), ("sanction", "false")} <= used
    assert {e["text"] for e in run.of_type("agenda")} == {""}
    votes = run.of_type("vote")
    assert votes and not any(v["valid"] for v in votes)  # no vote sent: each recorded as invalid
    (election,) = run.of_type("election")
    assert election["invalid"] == 3 and election["tie"] and election["limit"] == NO_LIMIT
    assert not run.of_type("sanction")
    assert run.summary["counters"]["parse_failures"] == len(run.of_type("parse_failure"))


@pytest.mark.parametrize("institutions_on", SETS, ids=IDS)
def test_a_generative_society_on_the_fake_backend_runs_from_the_cli(institutions_on, tmp_path):
    setting = f"institutions=[{', '.join(institutions_on)}]"
    hashes = [f"agents.{i}.params.embedder=hash" for i in range(3)]
    args = ["run", "--agents", "generative*3", "--backend", "fake", "--months", "2", "--set", setting,
            *[x for h in hashes for x in ("--set", h)], "--out", str(tmp_path), "--no-progress"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    log = events_in(tmp_path / "seed0")
    phases = {e["phase"] for e in log if e["type"] == "llm_call"}
    summary = json.loads((tmp_path / "seed0" / "summary.json").read_text())
    if "election" in institutions_on:
        assert {"agenda", "vote"} <= phases and summary["counters"]["elections"] == 1
    if "sanctions" in institutions_on:
        assert any(e["type"] == "sanctions_done" for e in log) and "sanctions" in summary["counters"]
    for event in log:
        assert not schema.problems(event), event


def test_a_killed_run_with_institutions_resumes_to_the_same_events(tmp_path, monkeypatch):
    cfg = config.resolve(overrides={"agents": "conditional*3,sustainable,fixed", "institutions": ["election", "sanctions"],
                                    "agents.4.params.amount": 11, "seed": 4, "election.term": 2})
    runner.run(cfg, tmp_path / "clean")
    calls = {"n": 0}
    original = runner.Episode._act

    async def dying_act(self, *args):
        calls["n"] += 1
        if calls["n"] == 30:  # in month 3, an election month
            raise RuntimeError("killed")
        return await original(self, *args)

    monkeypatch.setattr(runner.Episode, "_act", dying_act)
    with pytest.raises(RuntimeError, match="killed"):
        runner.run(cfg, tmp_path / "killed")
    monkeypatch.setattr(runner.Episode, "_act", original)
    assert read_run(tmp_path / "killed").of_type("month_started")[-1]["month"] == 3
    runner.run(cfg, tmp_path / "killed")

    def unnumbered(path):
        return [{k: v for k, v in strip_timing(e).items() if k != "seq"} for e in read_run(path).events
                if e["type"] != "run_resumed"]

    assert unnumbered(tmp_path / "killed") == unnumbered(tmp_path / "clean")
    assert read_run(tmp_path / "clean").of_type("sanction")


def test_the_report_groups_by_institutions(tmp_path):
    for institutions_on in ([], ["sanctions"]):
        for seed in (0, 1):
            cfg = config.resolve(overrides={"agents": "sustainable*4,fixed", "agents.4.params.amount": 15,
                                            "institutions": institutions_on, "seed": seed, "months": 3})
            runner.run(cfg, tmp_path / f"{'-'.join(institutions_on) or 'none'}{seed}")
    table = report.summary_table(report.runs_frame([tmp_path]))
    assert list(table["institutions"]) == ["none", "sanctions"] and list(table["runs"]) == [2, 2]
    with_sanctions = table[table["institutions"] == "sanctions"].iloc[0]
    assert with_sanctions["gain_after_sanctions"] < with_sanctions["gain"] and with_sanctions["sanctions"] > 0
    assert np.isnan(table[table["institutions"] == "none"].iloc[0]["gain_after_sanctions"])
    header = cli.invoke(app, ["report", str(tmp_path)]).output.splitlines()[0]
    assert "| agents | institutions | runs |" in header and "| gain_after_sanctions |" in header


def test_the_sweep_crosses_institutions_with_the_papers_experiments(tmp_path):
    spec = sweep.load(ROOT / "experiments" / "institutions.yaml")
    cells = sweep.expand(spec, tmp_path)
    assert len(cells) == 4 * 4 * 3 * 5
    assert {json.dumps(c.config.institutions) for c in cells} == {"[]", '["election"]', '["sanctions"]',
                                                                  '["election", "sanctions"]'}
    assert {c.config.experiment for c in cells} == {"default", "universalization", "no_communication",
                                                     "greedy_newcomer"}
    assert "institutions" in sweep.group_keys([sweep.write_definition(spec, tmp_path)])


def test_counters_and_metrics_of_runs_without_institutions_are_unchanged():
    events = [e for e in RECORDED["sustainable4_greedy_3m"]]
    cfg = baseline.case_config("sustainable4_greedy_3m")
    assert not set(metrics.INSTITUTION_COUNTERS) & set(metrics.counters(events))
    assert not {"gain_after_sanctions", "leader_months_by_agent"} & set(metrics.episode_metrics(events, cfg))
