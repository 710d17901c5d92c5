"""GenerativeAgents driving whole commons_v0 episodes on a scripted model."""

import asyncio
import json
from collections import Counter

import numpy as np
import pytest

from agents import base
from agents.base import AgentContext
from agents.generative import GenerativeAgent
from envs.commons_v0 import parallel_env
from govsim.llm import embed
from govsim.llm.embed import HashEmbedder
from govsim.llm.fake import FakeLLM

REPLIES = {
    "harvest": "If we all take 10 the lake recovers. Answer: 10 tons.",
    "importance": "Rating: 4",
    "converse": "Response: Let us keep to 10 each.\nConversation conclusion by me: no\nNext speaker: Kate",
    "converse_next": "Jack",
    "converse_end": "no",
    "summarize": "Summary: Everyone agreed to take 10.\nLimit: 10",
    "reflect": "Taking 10 each keeps the lake full (because of 1, 2)\nKate listens (because of 3)",
}


def by_purpose(request):
    return REPLIES[request.tag_dict["purpose"]]


def seats(n, **params):
    names = ["John", "Kate", "Jack", "Emma", "Luke"][:n]
    return [{"name": name, "type": "generative", "params": {"embedder": "hash", **params}} for name in names]


def make_agents(env, llm, events):
    return {
        name: base.create(
            AgentContext(env.seats[name], env.config, env.scenario, np.random.default_rng(i), events.append, llm)
        )
        for i, name in enumerate(env.possible_agents)
    }


async def play(env, agents, observations, infos, until_month=None, everyone=True):
    """Step until the episode ends (or a month starts past ``until_month``); the env's events.

    Like the runner, every present agent is called each step (``everyone``); with
    ``everyone=False`` only the acting ones are, and agents must catch up when they act.
    """
    log = []
    while env.agents and (until_month is None or env.month <= until_month):
        called = [a for a in env.agents if everyone or infos[a]["acting"]]
        actions = await asyncio.gather(*(agents[a].act(observations[a], infos[a]) for a in called))
        observations, _, _, _, infos = env.step({a: x for a, x in zip(called, actions) if infos[a]["acting"]})
        log += env.drain_events()
    return log, observations, infos


def run(env, agents, **kwargs):
    observations, infos = env.reset(seed=env.config.seed)
    return asyncio.run(play(env, agents, observations, infos, **kwargs))[0]


def test_registered_as_generative():
    assert base.get("generative") is GenerativeAgent and GenerativeAgent.needs_llm


@pytest.mark.parametrize("everyone", [True, False], ids=["all-called", "acting-only"])
def test_short_episode_on_a_scripted_model(everyone):
    env = parallel_env(months=2, agents=seats(3))
    llm, events = FakeLLM(by_purpose), []
    agents = make_agents(env, llm, events)
    log = run(env, agents, everyone=everyone)
    kinds = Counter(e["type"] for e in log)
    assert kinds["run_ended"] == 1 and kinds["invalid_action"] == 0
    assert [e["wanted"] for e in log if e["type"] == "harvest"] == [10] * 6
    assert [e["agreed_limit"] for e in log if e["type"] == "summary"] == [10, 10]
    assert all(e["text"] for e in log if e["type"] == "reflection")
    mine = Counter(e["type"] for e in events)
    assert mine["parse_failure"] == mine["fallback"] == 0 and mine["insight"] == 3 * 2 * 2 and mine["memory"] > 0
    insight = next(e for e in events if e["type"] == "insight")
    assert insight["kind"] == "thought" and insight["importance"] == 4 and insight["cites"]

    john = agents["John"]
    kinds_of = Counter(m.kind for m in john.memory)
    spoken = sum(e["type"] == "utterance" for e in log)
    assert kinds_of["chat"] == spoken and kinds_of["action"] == 2 and kinds_of["thought"] == 4  # heard or said, each once
    assert [m.text for m in john.memory if m.always_relevant] == [env.scenario.say("agreed_limit", limit=10)]
    # month 2's harvest prompt recalls the agreed limit and what others said
    harvest = [r for r in llm.requests if r.tag_dict["purpose"] == "harvest" and r.tag_dict["agent"] == "John"]
    assert [r.tag_dict["month"] for r in harvest] == [1, 2]
    prompt = harvest[1].messages[-1]["content"]
    assert env.scenario.say("agreed_limit", limit=10) in prompt and "said at the meeting" in prompt
    assert harvest[0].messages[0]["content"].startswith("You are John")


def test_a_model_that_never_parses_is_counted_not_hidden():
    env = parallel_env(months=1, agents=seats(3))
    llm, events = FakeLLM(["gibberish"]), []
    log = run(env, make_agents(env, llm, events))
    failures = Counter(e["purpose"] for e in events if e["type"] == "parse_failure")
    fallbacks = Counter(e["purpose"] for e in events if e["type"] == "fallback")
    assert failures == fallbacks  # every failure has exactly one reported way out
    assert failures["harvest"] == 3 and failures["summarize"] == 1 and failures["reflect"] == 3
    assert failures["converse"] >= 1 and failures["importance"] > 0
    invalid = [e for e in log if e["type"] == "invalid_action"]
    assert {(e["key"], e["fix"]) for e in invalid} == {("harvest", "missing")}
    assert all(e["attempts"] == 3 for e in events if e["type"] == "parse_failure")
    assert next(e for e in log if e["type"] == "summary")["agreed_limit"] == -1
    assert next(e for e in log if e["type"] == "run_ended")


def test_resume_at_a_month_boundary_gives_the_same_run():
    def fresh():
        env, llm = parallel_env(months=2, agents=seats(3, importance=5)), FakeLLM(by_purpose)
        return env, make_agents(env, llm, []), llm

    def month2(llm):  # every prompt of month 2: the same memories must come to mind
        return [r.messages for r in llm.requests if r.tag_dict["month"] == 2]

    env, agents, whole_llm = fresh()
    whole = run(env, agents)

    env, agents, _ = fresh()
    observations, infos = env.reset(seed=env.config.seed)
    asyncio.run(play(env, agents, observations, infos, until_month=1))
    saved = json.loads(json.dumps({"env": env.state_dict(), "agents": {a: ag.state_dict() for a, ag in agents.items()}}))

    env, agents, llm = fresh()
    observations, infos = env.load_state_dict(saved["env"])
    for name, agent in agents.items():
        agent.load_state_dict(saved["agents"][name])
    assert len(agents["John"].memory) == len(saved["agents"]["John"]["memory"]["memories"]) > 0
    resumed, _, _ = asyncio.run(play(env, agents, observations, infos))
    assert month2(llm) == month2(whole_llm) and month2(llm)
    expected = [e for e in whole if e["month"] == 2 and e["type"] != "month_started"]  # loading starts no month
    assert resumed == expected


def test_unknown_params_are_refused():
    env = parallel_env(months=1, agents=seats(2, importnce=5))
    with pytest.raises(ValueError, match="importnce"):
        make_agents(env, FakeLLM(by_purpose), [])


def test_resume_refuses_memories_from_another_embedder():
    env = parallel_env(months=1, agents=seats(2))
    agent = make_agents(env, FakeLLM(by_purpose), [])["John"]
    state = agent.state_dict()
    other = GenerativeAgent(agent.ctx, embedder=HashEmbedder(dim=64))
    with pytest.raises(ValueError, match="embedder"):
        other.load_state_dict(state)


def test_greedy_newcomer_gets_its_persona_when_it_joins():
    env = parallel_env(experiment="greedy_newcomer", months=3, agent="generative")
    for seat in env.seats.values():
        seat.params = {"embedder": "hash", "importance": 5}
    llm = FakeLLM(by_purpose)
    log = run(env, make_agents(env, llm, []))
    luke = [r for r in llm.requests if r.tag_dict["agent"] == "Luke"]
    assert luke and min(r.tag_dict["month"] for r in luke) == 3
    assert env.scenario.persona("greedy_newcomer") in luke[0].messages[0]["content"]
    john = next(r for r in llm.requests if r.tag_dict["agent"] == "John")
    assert env.scenario.persona("local") in john.messages[0]["content"]
    assert sum(e["type"] == "harvest" and e["month"] == 3 for e in log) == 5


@pytest.mark.parametrize("scenario", ["pasture", "pollution"])
def test_other_scenarios_and_no_communication(scenario):
    env = parallel_env(scenario=scenario, experiment="no_communication", months=2, agents=seats(2, importance=3))
    llm = FakeLLM(by_purpose)
    agents = make_agents(env, llm, [])
    log = run(env, agents)
    assert {e["type"] for e in log} >= {"harvest", "reflection", "run_ended"} and not any(
        e["type"] in ("utterance", "summary", "invalid_action") for e in log
    )
    assert {r.tag_dict["purpose"] for r in llm.requests} == {"harvest", "reflect"}
    assert env.scenario.vocabulary.harvesters in llm.requests[0].messages[0]["content"]
    assert not any(m.kind == "chat" for m in agents["John"].memory)


def test_on_a_ring_network_speakers_name_only_neighbours():
    env = parallel_env(months=1, network="ring", agents=seats(4, importance=5))
    llm, events = FakeLLM(by_purpose), []
    agents = make_agents(env, llm, events)
    log = run(env, agents)
    utterances = [e for e in log if e["type"] == "utterance"]
    assert utterances and not any(e["type"] == "invalid_action" for e in log)
    asked = [r for r in llm.requests if r.tag_dict["purpose"] == "converse_next"]  # Kate may not name Kate
    assert asked and all(len(r.constraint.choice) == 2 for r in asked)  # the two ring neighbours


def test_auto_embedder_without_minilm_falls_back_to_hash_and_says_so(monkeypatch):
    monkeypatch.setattr(embed, "minilm_available", lambda: False)
    env = parallel_env(months=1, n_agents=2, agent="generative")
    events = []
    agent = make_agents(env, FakeLLM(by_purpose), events)["John"]
    assert isinstance(agent.embedder, HashEmbedder)
    assert [(e["type"], e["purpose"], e["used"]) for e in events][:1] == [("fallback", "embedder", "hash")]
