"""PettingZoo's own API and seed tests on both forms of the env, for every experiment."""

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

from envs import commons_v0
from govsim.phases import Phase

EXPERIMENTS = ["default", "universalization", "no_communication", "greedy_newcomer"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_pettingzoo_api_and_seed(experiment):
    parallel_api_test(commons_v0.parallel_env(experiment=experiment, months=4), num_cycles=300)
    api_test(commons_v0.env(experiment=experiment, months=4), num_cycles=300)
    parallel_seed_test(lambda: commons_v0.parallel_env(experiment=experiment, months=4))
    seed_test(lambda: commons_v0.env(experiment=experiment, months=4))


def test_issue_example_pasture_universalization():
    env = commons_v0.parallel_env(scenario="pasture", experiment="universalization")
    obs, infos = env.reset(seed=0)
    first = obs["John"]
    assert "pasture" in first["text"] and "10 hectares" in first["text"]
    assert infos["John"]["threshold"] == 10


def test_a_month_runs_every_phase_in_order():
    env = commons_v0.parallel_env(n_agents=3, months=2, max_conversation_steps=3)
    obs, infos = env.reset(seed=1)
    phases = []
    while env.agents:
        phases.append(Phase(int(obs[env.agents[0]]["phase"])))
        actions = {a: {"harvest": 5, "utterance": "hi", "next_speaker": 0, "end_conversation": 0,
                       "summary": "s", "agreed_limit": 7, "reflection": "r"} for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        if phases[-1] == Phase.HARVEST:
            assert all(r == 5 for r in rewards.values())  # rewards are this step's catch
        else:
            assert all(r == 0 for r in rewards.values())
    assert phases[:5] == [Phase.HARVEST, Phase.DISCUSSION, Phase.DISCUSSION, Phase.SUMMARY, Phase.REFLECTION]
    assert len(phases) == 10


def test_bad_actions_are_clipped_and_recorded_not_dropped():
    env = commons_v0.parallel_env(n_agents=2)
    env.reset(seed=0)
    _, rewards, _, _, infos = env.step({"John": {"harvest": 500}, "Kate": {"harvest": "lots"}})
    events = env.drain_events()
    invalid = [e for e in events if e["type"] == "invalid_action"]
    assert {e["agent"] for e in invalid} == {"John", "Kate"}
    assert "clipped to 100" in infos["John"]["invalid"][0]
    assert rewards == {"John": 100.0, "Kate": 0.0}


def test_self_nomination_is_allowed_as_in_the_reference_and_refused_when_improved():
    env = commons_v0.parallel_env(n_agents=3)
    env.reset(seed=0)
    env.step({a: {"harvest": 1} for a in env.agents})
    speaker = env.speaker
    _, _, _, _, infos = env.step({a: {"utterance": "x", "next_speaker": speaker, "end_conversation": 0} for a in env.agents})
    assert env.speaker == speaker and not infos[speaker]["invalid"]
    env = commons_v0.parallel_env(n_agents=3, improvements={"no_self_naming": True})
    env.reset(seed=0)
    env.step({a: {"harvest": 1} for a in env.agents})
    speaker = env.speaker
    _, _, _, _, infos = env.step({a: {"utterance": "x", "next_speaker": speaker, "end_conversation": 0} for a in env.agents})
    assert env.speaker != speaker
    assert any("next_speaker" in line for line in infos[speaker]["invalid"])


def test_newcomer_joins_through_env_agents_in_month_4():
    env = commons_v0.parallel_env(experiment="greedy_newcomer", communication=False)
    env.reset(seed=0)
    assert env.agents == ["John", "Kate", "Jack", "Emma"]
    for _ in range(3):  # months 1 to 3
        env.step({a: {"harvest": 2} for a in env.agents})
        env.step({a: {"reflection": ""} for a in env.agents})
    assert env.agents == ["John", "Kate", "Jack", "Emma", "Luke"] and env.month == 4
    assert env.threshold == sustainable_share(env.commons.stock, 5)


def sustainable_share(stock, n):
    return stock // 2 // n


def test_no_communication_skips_discussion_and_report():
    env = commons_v0.parallel_env(experiment="no_communication", n_agents=2)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step({a: {"harvest": 10} for a in env.agents})
    assert Phase(int(obs["John"]["phase"])) == Phase.REFLECTION
    assert obs["John"]["report"] == ""


def test_observations_fit_their_space_with_odd_text():
    env = commons_v0.parallel_env(n_agents=2)
    env.reset(seed=0)
    env.step({a: {"harvest": 1} for a in env.agents})
    obs, *_ = env.step({a: {"utterance": "emoji \U0001F41F and tabs\t", "next_speaker": 1, "end_conversation": 1}
                        for a in env.agents})
    for agent, o in obs.items():
        assert env.observation_space(agent).contains(o)
    assert np.array_equal(obs["John"]["stock"], [98])
