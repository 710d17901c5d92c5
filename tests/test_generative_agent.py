"""GenerativeAgents driving whole commons_v0 episodes on a scripted model."""

import asyncio
import json
from collections import Counter

import numpy as np
import pytest

from agents import base
from agents.base import AgentContext
from agents.generative import GenerativeAgent
from agents.generative.memory import LIFETIME, Month
from envs.commons_v0 import parallel_env
from govsim.events import problems
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
    "harvest_amount": "10",
    "summarize_limit": "10",
    "think_plan": "We agreed to take at most 10 tons each. Then we left.",
    "think_memorize": "Kate spoke first",
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
    # thoughts, each agent each month: two insights, a planning and a memorize thought, the limit
    assert mine["parse_failure"] == mine["fallback"] == 0 and mine["insight"] == 3 * 2 * 5 and mine["memory"] > 0
    insight = next(e for e in events if e["type"] == "insight" and e["source"] == "reflection")
    assert insight["kind"] == "thought" and insight["importance"] == 4 and insight["cites"]

    john = agents["John"]
    kinds_of = Counter(m.kind for m in john.mind.memory)
    # a month: stock and own catch (events); the talk's summary (a chat); planning, memorize,
    # limit and two insights (thoughts). Turns of the talk are not memories (the reference's).
    assert kinds_of == {"event": 4, "chat": 2, "thought": 10}
    limit = env.scenario.say("agreed_limit", limit=10)
    assert [m.text for m in john.mind.memory if m.always_relevant and m.kind == "thought"] == [limit, limit]
    # month 2's harvest prompt recalls the agreed limit and the thoughts on the talk
    harvest = [r for r in llm.requests if r.tag_dict["purpose"] == "harvest" and r.tag_dict["agent"] == "John"]
    assert [r.tag_dict["month"] for r in harvest] == [1, 2]
    prompt = harvest[1].messages[-1]["content"]
    assert limit in prompt and "We agreed to take at most 10 tons each" in prompt
    assert harvest[0].messages[0]["content"].startswith("You are John")


def test_a_model_that_never_parses_is_counted_not_hidden():
    env = parallel_env(months=1, agents=seats(3))
    llm, events = FakeLLM(["gibberish"]), []
    log = run(env, make_agents(env, llm, events))
    failures = Counter(e["purpose"] for e in events if e["type"] == "parse_failure")
    fallbacks = Counter(e["purpose"] for e in events if e["type"] == "fallback")
    assert failures == fallbacks  # every failure has exactly one reported way out
    assert failures == {"harvest_amount": 3, "summarize_limit": 1, "reflect": 3}
    # choices (importance 1-10, the end flag) are constrained: they cannot fail on this backend
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
    assert len(agents["John"].mind.memory) == len(saved["agents"]["John"]["memory"]["memories"]) > 0
    resumed, _, _ = asyncio.run(play(env, agents, observations, infos))
    assert month2(llm) == month2(whole_llm) and month2(llm)
    expected = [e for e in whole if e["month"] == 2 and e["type"] != "month_started"]  # loading starts no month
    assert resumed == expected


def test_params_are_typed_with_the_same_defaults():
    env = parallel_env(months=1, agents=seats(2, importance=5, insights="2"))
    agent = make_agents(env, FakeLLM(by_purpose), [])["John"]
    assert isinstance(agent.params, GenerativeAgent.Params)
    assert agent.params.model_dump() == {
        "embedder": "hash", "importance": 5.0, "recall": 10, "recall_talk": 5, "reflect_on": 10, "insights": 2,
    }


@pytest.mark.parametrize(
    "params, named",
    [
        ({"importnce": 5}, "unknown params.importnce"),
        ({"importance": 11}, "params.importance: Input should be less than or equal to 10"),
        ({"embedder": "mxbai"}, "params.embedder: Input should be 'auto', 'minilm' or 'hash'"),
        ({"recall": "ten"}, "params.recall: Input should be a valid integer"),
    ],
)
def test_bad_params_are_one_line_naming_the_key(params, named):
    env = parallel_env(months=1, agents=seats(2, **params))
    with pytest.raises(ValueError, match="generative") as refused:
        make_agents(env, FakeLLM(by_purpose), [])
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"agent John: {named}") and "recall_talk" in message


def test_resume_refuses_memories_from_another_embedder():
    env = parallel_env(months=1, agents=seats(2))
    agent = make_agents(env, FakeLLM(by_purpose), [])["John"]
    state = agent.state_dict()
    other = GenerativeAgent(agent.ctx, embedder=HashEmbedder(dim=64))
    with pytest.raises(ValueError, match="embedder"):
        other.load_state_dict(state)


def test_greedy_newcomer_gets_its_persona_when_it_joins():
    env = parallel_env(experiment="greedy_newcomer", months=4, agent="generative")
    for seat in env.seats.values():
        seat.params = {"embedder": "hash", "importance": 5}
    llm = FakeLLM(by_purpose)
    log = run(env, make_agents(env, llm, []))
    luke = [r for r in llm.requests if r.tag_dict["agent"] == "Luke"]
    assert luke and min(r.tag_dict["month"] for r in luke) == 4
    assert env.scenario.persona("outsider") in luke[0].messages[0]["content"]
    john = next(r for r in llm.requests if r.tag_dict["agent"] == "John")
    assert env.scenario.persona("traditional") in john.messages[0]["content"]
    assert sum(e["type"] == "harvest" and e["month"] == 4 for e in log) == 5


@pytest.mark.parametrize("scenario", ["pasture", "pollution"])
def test_other_scenarios_and_no_communication(scenario):
    env = parallel_env(scenario=scenario, experiment="no_communication", months=2, agents=seats(2, importance=3))
    llm = FakeLLM(by_purpose)
    agents = make_agents(env, llm, [])
    log = run(env, agents)
    assert {e["type"] for e in log} >= {"harvest", "reflection", "run_ended"} and not any(
        e["type"] in ("utterance", "summary", "invalid_action") for e in log
    )
    purposes = {r.tag_dict["purpose"] for r in llm.requests}
    # at home only the month's observations were remembered, and they have expired: nothing
    # to reflect on, so, as in the reference, no reflection call; no talk, no thoughts on it
    assert "harvest" in purposes and not purposes & {"reflect", "think_plan", "think_memorize", "importance"}
    assert env.scenario.vocabulary.harvesters in llm.requests[0].messages[0]["content"]
    assert not any(m.kind == "chat" for m in agents["John"].mind.memory)


def test_on_a_ring_network_speakers_name_only_neighbours():
    env = parallel_env(months=1, network="ring", agents=seats(4, importance=5))
    llm, events = FakeLLM(by_purpose), []
    agents = make_agents(env, llm, events)
    log = run(env, agents)
    utterances = [e for e in log if e["type"] == "utterance"]
    assert utterances and not any(e["type"] == "invalid_action" for e in log)
    asked = [r for r in llm.requests if r.tag_dict["purpose"] == "converse_next"]
    # the two ring neighbours and, as in the reference, the speaker himself
    assert asked and all(len(r.constraint.choice) == 3 for r in asked)
    assert all(r.tag_dict["agent"] in r.constraint.choice for r in asked)


def test_auto_embedder_without_minilm_falls_back_to_hash_and_says_so(monkeypatch):
    monkeypatch.setattr(embed, "minilm_available", lambda: False)
    env = parallel_env(months=1, n_agents=2, agent="generative")
    events = []
    agent = make_agents(env, FakeLLM(by_purpose), events)["John"]
    assert isinstance(agent.mind.embedder, HashEmbedder)
    assert [(e["type"], e["purpose"], e["used"]) for e in events][:1] == [("fallback", "embedder", "hash")]


# ---------------------------------------------------------------- memory as the reference runs it

JAN, FEB, MAR, APR = (Month.of(f"2024-{m:02d}-01") for m in (1, 2, 3, 4))


def requests_of(llm, agent, purpose=None, month=None):
    return [
        r for r in llm.requests
        if r.tag_dict["agent"] == agent and purpose in (None, r.tag_dict["purpose"]) and month in (None, r.tag_dict["month"])
    ]


def prompt_of(request):
    return "\n".join(m["content"] for m in request.messages)


@pytest.mark.parametrize("everyone", [True, False], ids=["all-called", "acting-only"])
def test_after_the_talk_each_agent_thinks_twice_before_reflecting(everyone):
    env = parallel_env(months=1, agents=seats(3))
    llm, events = FakeLLM(by_purpose), []
    agents = make_agents(env, llm, events)
    run(env, agents, everyone=everyone)
    for name, agent in agents.items():
        thoughts = [m for m in agent.mind.memory if m.kind == "thought" and not m.always_relevant and not m.cites]
        assert [m.text for m in thoughts] == ["We agreed to take at most 10 tons each", "Kate spoke first"]
        leads = name == "John"  # the first present leads the talk; the others' clock stays at the harvest day
        assert [m.created for m in thoughts] == [JAN.talk if leads else JAN.harvest] * 2
        (summary,) = [m for m in agent.mind.memory if m.kind == "chat"]
        (limit,) = [m for m in agent.mind.memory if m.always_relevant and m.kind == "thought"]
        assert summary.created == limit.created == JAN.talk and limit.importance == 10
        assert limit.text == env.scenario.say("agreed_limit", limit=10) and limit.expiry == JAN.talk + LIFETIME
        insights = [m for m in agent.mind.memory if m.cites]
        assert insights and all(m.created == JAN.home for m in insights)
        # stored in the reference's order: summary, planning, memorize, limit; then the home reflection
        assert [m.id for m in (summary, *thoughts, limit)] == sorted(m.id for m in (summary, *thoughts, limit))
        assert limit.id < min(m.id for m in insights)
        purposes = [r.tag_dict["purpose"] for r in requests_of(llm, name)]
        assert purposes.count("think_plan") == purposes.count("think_memorize") == 1
        assert max(purposes.index("think_plan"), purposes.index("think_memorize")) < purposes.index("reflect")
    rated = [prompt_of(r) for r in llm.requests if r.tag_dict["purpose"] == "importance" and r.tag_dict["agent"] == "Kate"]
    summary_text = agents["Kate"].prompts.render("memory_summary", summary=env.summary_text)
    assert sum(f"Conversation: {summary_text}" in p for p in rated) == 1  # the chat prompt
    assert sum("Thought: We agreed to take at most 10 tons each" in p for p in rated) == 1  # the thought prompt
    assert not any(env.scenario.say("agreed_limit", limit=10) in p for p in rated)  # always relevant: 10, unasked
    stored = [e for e in events if e["type"] in ("memory", "insight") and e["agent"] == "Kate"]
    assert {(e["type"], e["source"]) for e in stored} == {
        ("memory", "observation"), ("memory", "summary"),
        ("insight", "plan"), ("insight", "memorize"), ("insight", "limit"), ("insight", "reflection"),
    }
    assert all(not problems({**e, "v": 2, "seq": 0, "ts": 0.0, "phase": "reflection"}) for e in stored)


def test_always_included_memories_in_harvest_and_talk_prompts_and_gone_at_home():
    env = parallel_env(experiment="universalization", months=2, agents=seats(3))
    llm = FakeLLM(by_purpose)
    agents = make_agents(env, llm, [])
    log = run(env, agents)
    say = env.scenario.say
    stock = say("stock_before_harvest", stock=100)
    hint = say("universalization_hint", threshold=next(e["threshold"] for e in log if e["type"] == "month_started"))
    catch = say("harvest_report", name="John", wanted=10, caught=10)
    limit = say("agreed_limit", limit=10)
    first, second = (prompt_of(r) for r in requests_of(llm, "John", "harvest"))
    assert stock in first and hint in first and f"{JAN.harvest.date()}: {stock}" in first
    assert limit in second and f"{JAN.harvest.date()}:" not in second  # month 1's observations expired
    talk = requests_of(llm, "John", "converse", month=1)
    assert talk and all(stock in prompt_of(r) and catch in prompt_of(r) for r in talk)
    assert f"{JAN.catch_report.date()}: {catch}" in prompt_of(talk[0])
    home = prompt_of(requests_of(llm, "John", "reflect", month=1)[0])
    assert stock not in home and catch not in home  # expired on the month's last day
    assert "Summary of the meeting" not in home  # chats are never retrieved (paper)
    assert "We agreed to take at most 10 tons each" in home


def test_limits_stand_63_days_so_several_at_once():
    env = parallel_env(months=4, agents=seats(3, importance=5))
    llm = FakeLLM(by_purpose)
    agents = make_agents(env, llm, [])
    run(env, agents)
    limit = env.scenario.say("agreed_limit", limit=10)
    counts = [prompt_of(r).count(limit) for r in requests_of(llm, "John", "harvest")]
    # limits of Jan 30 (to Apr 2), Feb 28 (to May 1), Mar 30: a new one does not replace the old
    assert counts == [0, 1, 2, 3]
    standing = [m.created for m in agents["John"].mind.memory.live() if m.always_relevant and m.kind == "thought"]
    assert standing == [FEB.talk, MAR.talk, APR.talk]  # at April's home the January limit is gone


def test_recall_focal_points_and_top_k():
    env = parallel_env(months=1, agents=seats(2, recall=3, recall_talk=2))
    agent = make_agents(env, FakeLLM(by_purpose), [])["John"]
    embedded = []

    class Recording(HashEmbedder):
        async def embed(self, texts):
            embedded.append(list(texts))
            return await super().embed(texts)

    agent.mind.embedder = Recording()
    vectors = asyncio.run(HashEmbedder().embed([f"memory {i} lake" for i in range(8)]))
    for i, vector in enumerate(vectors):
        agent.mind.memory.add("thought", f"memory {i} lake", 1 + i, vector, 1, created=JAN.harvest)

    def recall(focus, report="", turns=()):
        info = {"month": 1, "phase": "discussion", "date": "2024-01-01", "present": ["John", "Kate"], "acting": True,
                "conversation": list(turns)}
        return asyncio.run(agent.context({"report": report, "conversation": ""}, info).recall(focus))

    recalled = recall("harvest")
    assert len(recalled.memories) == 3 and embedded[-1] == ["lake"]
    assert recalled.text == agent.prompts.memories(recalled.memories)  # what the prompts show
    turns = [{"speaker": "Kate", "text": f"turn {i}"} for i in range(5)]
    picked = recall("talk", "Mayor: John caught 10 tons.", turns).memories
    assert embedded[-1] == ["", "turn 1", "turn 2", "turn 3", "turn 4"]  # "" and the last four entries
    assert 2 <= len(picked) <= 10 and picked == sorted(picked, key=lambda m: (m.created, m.id))
    recall("talk", "Mayor: John caught 10 tons.", turns[:1])
    assert embedded[-1] == ["", "Mayor: John caught 10 tons.", "turn 0"]  # the report is the first entry
    with pytest.raises(ValueError, match="focus 'lake'"):
        recall("lake")


def test_same_seed_same_memories_and_prompts():
    def once():
        env = parallel_env(experiment="universalization", months=2, agents=seats(3))
        llm, events = FakeLLM(by_purpose), []
        run(env, make_agents(env, llm, events))
        return [r.messages for r in llm.requests], [e for e in events if e["type"] in ("memory", "insight")]

    first, second = once(), once()
    assert first == second and first[1]
