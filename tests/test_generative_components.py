"""Each component of the generative agent on a scripted model: parsing, retries, fallbacks."""

import asyncio
import re

import numpy as np
import pytest

from agents.base import AgentContext
from agents.generative import GenerativeAgent, converse, harvest, importance, reflect, summarize
from agents.generative.importance import CONSTRAINT as RATING
from agents.generative.importance import DEFAULT, parse_rating
from agents.generative.memory import KINDS, MemoryStream, Note
from agents.generative.mind import Recalled
from agents.generative.reflect import SENTENCE, first_sentence, insights_constraint, parse_insights
from agents.generative.summarize import one_sentence, parse_limit
from agents.generative.templates import FIELDS, Prompts, check
from govsim import scenarios
from govsim.config import resolve
from govsim.llm.base import Constraint
from govsim.llm.fake import FakeLLM
from govsim.phases import (
    AGREED_LIMIT,
    END_CONVERSATION,
    HARVEST,
    NEXT_SPEAKER,
    NO_LIMIT,
    REFLECTION,
    SUMMARY,
    UTTERANCE,
)
from govsim.wording import listing

PRESENT = ["John", "Kate", "Jack"]


class PlainLLM(FakeLLM):
    """A backend that cannot enforce constraints."""

    supports_constraints = False


def kit(replies, llm_type=FakeLLM, params=None, **overrides):
    """(agent, llm, events): seat John of a 3-agent fishery, a generative agent on a scripted model."""
    config = resolve("default", overrides={"n_agents": 3, **overrides})
    llm, events = llm_type(replies), []
    seat = config.agents[0].model_copy(update={"type": "generative", "params": {"embedder": "hash", **(params or {})}})
    ctx = AgentContext(seat, config, scenarios.load(config.scenario), np.random.default_rng(0), events.append, llm)
    return GenerativeAgent(ctx), llm, events


def context(agent, phase="harvest", month=1, date="2024-01-01", observation=None, **info):
    """The agent's context in a step of ``phase``: the observation and info keys the components read."""
    seen = {"stock": np.array([100]), "report": "", "conversation": "", "agreed_limit": np.array([NO_LIMIT])}
    told = {"month": month, "phase": phase, "date": date, "present": PRESENT, "acting": True, "conversation": [], "summary": ""}
    return agent.context({**seen, **(observation or {})}, {**told, **info})


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, amount", [("12", 12), (" 7 tons", 7), ("N/A", None), ("", None)])
def test_parse_number_reads_the_continuation_after_the_marker(text, amount):
    assert harvest.parse_number(text) == amount


@pytest.mark.parametrize(
    "text, rating",
    [("Rating: 7", 7), ("rating = 10", 10), ("Rating (1 to 10): 6", 6), (" 3.", 3), ("Rating: 0", None), ("high", None)],
)
def test_parse_rating(text, rating):
    assert parse_rating(text) == rating


def test_the_talk_parsers():
    assert converse.clean_utterance('  "Let us take 10 each."  ') == "Let us take 10 each."
    assert converse.parse_yes_no(" Yes") is True and converse.parse_yes_no("no.") is False
    assert converse.parse_yes_no("maybe yes") is None  # the continuation must start with it
    assert listing(["A", "B", "C"]) == "A, B, and C" and listing(["A", "B"]) == "A and B"  # the present, as the talk names them


def test_the_minutes_parsers():
    assert parse_limit("10") == 10 and parse_limit(" N/A") == NO_LIMIT and parse_limit("none of it") is None
    assert one_sentence(" They agreed on 10 tons. Then more.") == "They agreed on 10 tons."
    assert one_sentence(". nothing") == ""


def test_parse_insights_maps_citations_to_memory_ids():
    stream = MemoryStream()
    for i in range(4):
        stream.add("event", f"m{i}", 5, np.ones(2), month=1)
    cited = stream.memories[1:]  # shown as 1, 2, 3 -> ids 1, 2, 3
    text = (
        "Here are my insights:\n1. Sharing pays (because of 1, 3)\n2) **Kate is greedy** (because of 2, 9)\n"
        "3. Jack is quiet\nChatter."
    )
    insights = parse_insights(text, cited, most=5)
    assert [(i.text, i.evidence) for i in insights] == [("Sharing pays", [1, 3]), ("Kate is greedy", [2]), ("Jack is quiet", [])]
    unnumbered = parse_insights("Sure:\nSharing pays (because of 1)\n- Kate is greedy (because of 2)\nChatter.", cited, 5)
    assert [(i.text, i.evidence) for i in unnumbered] == [("Sharing pays", [1]), ("Kate is greedy", [2])]
    assert parse_insights("No format at all.", cited, 3) is None
    assert len(parse_insights("1. a b c (because of 1)\n" * 5, cited, 2)) == 2


def test_first_sentence_stops_at_the_first_period():
    assert first_sentence("  We agreed on 10 tons each. Kate was upset.") == "We agreed on 10 tons each"
    assert first_sentence("Kate takes 2.5 tons") == "Kate takes 2"  # as the reference's stop at any period
    assert first_sentence("No period at all") == "No period at all"
    assert first_sentence(" . Then more.") is None and first_sentence("") is None


# ---------------------------------------------------------------- harvest


def decide(agent, month=1, stock=100):
    return asyncio.run(harvest.decide(context(agent, month=month, observation={"stock": np.array([stock])})))


def test_harvest_reasons_then_reads_the_number_of_a_continuation():
    agent, llm, events = kit(["Let me think about the lake...", "9"])
    assert decide(agent) == {HARVEST: 9} and not of_type(events, "parse_failure")
    first, second = llm.requests
    assert first.constraint is None and first.sampling.stop == harvest.MARKERS
    assert first.messages == ({"role": "user", "content": first.messages[0]["content"]},)
    assert first.messages[0]["content"].startswith(agent.prompts.system(PRESENT) + "\n")
    assert "(nothing yet)" in first.messages[0]["content"]  # the memories, as recalled and listed
    assert second.messages[-1] == {"role": "assistant", "content": "Let me think about the lake...\nAnswer: "}
    assert second.constraint.regex == "(0|[1-9][0-9]{0,2})" and second.sampling.max_tokens == harvest.AMOUNT_TOKENS
    assert first.tag_dict == {"agent": "John", "purpose": "harvest", "month": 1, "attempt": 1}
    assert second.tag_dict["purpose"] == "harvest_amount"


def test_harvest_of_an_empty_commons_asks_nothing():
    agent, llm, events = kit(["9"])
    assert decide(agent, stock=0) == {HARVEST: 0} and llm.requests == [] and events == []


def test_harvest_failure_is_reported_and_makes_no_request():
    agent, llm, events = kit(["no idea"], llm_type=PlainLLM)
    assert decide(agent, month=3) == {}
    assert len(llm.requests) == 1 + 3  # the reasoning, then 1 + config.llm.retries (2) continuations
    (failure,) = of_type(events, "parse_failure")
    assert failure == {
        "type": "parse_failure", "agent": "John", "purpose": "harvest_amount", "month": 3, "text": "no idea",
        "attempts": 3,
    }
    (fallback,) = of_type(events, "fallback")
    assert fallback["purpose"] == "harvest_amount" and fallback["used"] == harvest.NO_REQUEST and fallback["reason"]


def test_retries_follow_the_config_and_constraints_need_backend_support():
    agent, llm, events = kit(["no idea"], llm_type=PlainLLM, **{"llm.retries": 0})
    decide(agent)
    assert len(llm.requests) == 2 and of_type(events, "parse_failure")[0]["attempts"] == 1
    assert [r.constraint for r in llm.requests] == [None, None]


def test_sampling_comes_from_the_config():
    agent, llm, _ = kit(["1"], **{"llm.temperature": 0.2, "llm.top_p": 0.9, "llm.max_tokens": 77})
    decide(agent)
    sampling = llm.requests[0].sampling
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens) == (0.2, 0.9, 77)


# ---------------------------------------------------------------- importance


def rate(agent, kind, text, month=1, always_relevant=False):
    return asyncio.run(importance.rate(context(agent, month=month), Note(kind, text, always_relevant=always_relevant)))


def test_importance_is_a_choice_of_1_to_10_from_the_first_attempt():
    agent, llm, events = kit(["Rating: 8", "10"])
    assert rate(agent, "event", "Kate took 50 tons") == 8
    assert rate(agent, "event", "x") == 10
    request = llm.requests[0]
    assert set(request.constraint.choice) == {str(n) for n in range(1, 11)} and request.sampling.max_tokens <= 12
    assert "Kate took 50 tons" in request.messages[0]["content"] and request.tag_dict["purpose"] == "importance"
    plain, llm, _ = kit(["Rating (1 to 10): 3"], PlainLLM)  # no constraints: read from free text
    assert rate(plain, "chat", "x") == 3
    assert llm.requests[0].constraint is None


def test_importance_has_one_prompt_per_kind_of_memory():
    agent, llm, _ = kit(["7"])
    for kind in KINDS:
        rate(agent, kind, "the memory")
    users = [r.messages[0]["content"] for r in llm.requests]
    assert len(set(users)) == 4 and all("the memory" in u and "1 to 10" in u for u in users)
    for kind, user in zip(KINDS, users):
        assert user.endswith(agent.prompts.render(f"importance_{kind}", name="John", memory="the memory"))
    assert "Conversation:" in users[KINDS.index("chat")] and "Thought:" in users[KINDS.index("thought")]
    assert all(r.messages[-1] == {"role": "assistant", "content": "Rating (1 to 10): "} for r in llm.requests)


def test_importance_fallback_is_default_and_reported():
    agent, llm, events = kit(["very important!"], PlainLLM)
    assert rate(agent, "event", "x", month=2) == DEFAULT
    assert len(of_type(events, "parse_failure")) == 1
    assert of_type(events, "fallback")[0] | {"reason": ""} == {
        "type": "fallback", "agent": "John", "purpose": "importance", "month": 2, "used": DEFAULT, "reason": ""
    }


def test_fixed_importance_and_always_relevant_memories_ask_nothing():
    agent, llm, _ = kit(["Rating: 9"], params={"importance": 4})
    assert rate(agent, "thought", "x") == 4 and rate(agent, "event", "the stock", always_relevant=True) == 10
    asked, llm, _ = kit(["Rating: 9"])
    assert rate(asked, "event", "the stock", always_relevant=True) == 10
    assert llm.requests == []


# ---------------------------------------------------------------- converse


def speak(agent, present=PRESENT, names=None):
    names = list(present) if names is None else names
    ctx = context(agent, "discussion", date="2024-01-30", observation={"report": "Mayor: report"}, present=present, names=names)
    return asyncio.run(converse.decide(ctx))


def test_converse_writes_the_utterance_then_continues_with_the_choices():
    replies = iter([' "Ten each?" ', "no", "Jack"])
    agent, llm, events = kit(lambda request: next(replies))
    assert speak(agent) == {UTTERANCE: "Ten each?", END_CONVERSATION: 0, NEXT_SPEAKER: "Jack"} and not events
    said, end, nxt = llm.requests
    assert said.messages[-1] == {"role": "assistant", "content": "Response: "}
    assert said.sampling.stop == ("Conversation conclusion by me:",)
    assert "-Mayor: report" in said.messages[0]["content"] and "John, Kate, and Jack" in said.messages[0]["content"]
    assert end.constraint.choice == ("yes", "no") and end.tag_dict["purpose"] == "converse_end"
    assert end.messages[-1]["content"] == 'Response:  "Ten each?"\nConversation conclusion by me: '
    assert nxt.constraint.choice == ("John", "Kate", "Jack") and nxt.tag_dict["purpose"] == "converse_next"
    assert nxt.messages[-1]["content"].endswith("Conversation conclusion by me: no\nNext speaker: ")


def test_converse_that_ends_the_talk_names_nobody():
    replies = iter(["Bye.", "yes"])
    agent, llm, events = kit(lambda request: next(replies))
    assert speak(agent) == {UTTERANCE: "Bye.", END_CONVERSATION: 1} and len(llm.requests) == 2 and not events


def test_converse_offers_only_the_given_names_and_none_when_isolated():
    replies = iter(["Hi.", "no", "Jack"])
    agent, llm, events = kit(lambda request: next(replies))
    assert speak(agent, names=["Jack"])[NEXT_SPEAKER] == "Jack"
    assert llm.requests[-1].constraint.choice == ("Jack",)
    replies = iter(["Hi.", "no"])
    agent, llm, events = kit(lambda request: next(replies))
    assert speak(agent, names=[]) == {UTTERANCE: "Hi.", END_CONVERSATION: 1} and len(llm.requests) == 2


def test_converse_fallbacks_are_the_references_defaults_and_reported():
    # a backend without constraints that keeps answering nonsense to the choices
    replies = iter(["Ten each?"] + ["hmm"] * 3)
    agent, llm, events = kit(lambda request: next(replies), llm_type=PlainLLM)
    assert speak(agent) == {UTTERANCE: "Ten each?", END_CONVERSATION: 1}
    assert [e["purpose"] for e in of_type(events, "parse_failure")] == ["converse_end"]
    assert [(e["purpose"], e["used"]) for e in of_type(events, "fallback")] == [("converse_end", True)]
    replies = iter(["Ten each?", "no", "hmm", "hmm", "hmm"])
    agent, llm, events = kit(lambda request: next(replies), llm_type=PlainLLM)
    assert speak(agent)[NEXT_SPEAKER] == "John"  # the first name offered
    assert [(e["purpose"], e["used"]) for e in of_type(events, "fallback")] == [("converse_next", "John")]


# ---------------------------------------------------------------- summarize and reflect


def minutes(agent, conversation):
    return asyncio.run(summarize.decide(context(agent, "summary", observation={"conversation": conversation})))


def test_summarize_asks_twice_without_a_persona_and_falls_back_to_no_limit():
    replies = iter(["All agreed on 10 tons", "They said ten.", "10"])
    agent, llm, events = kit(lambda request: next(replies))
    assert minutes(agent, 'John: "10?"') == {SUMMARY: "All agreed on 10 tons.", AGREED_LIMIT: 10} and not events
    summary, reasoning, limit = llm.requests
    assert summary.messages[0]["content"].startswith("Conversation:\n-John:") and summary.sampling.stop == (".",)
    assert "fisherman" not in reasoning.messages[0]["content"] and reasoning.sampling.stop == ("Answer:",)
    assert limit.messages[-1]["content"] == "They said ten.\nAnswer: " and limit.constraint.regex.endswith("|N/A")
    replies = iter(["They talked", "No number.", "hmm", "hmm", "hmm"])
    agent, llm, events = kit(lambda request: next(replies), llm_type=PlainLLM)
    assert minutes(agent, 'John: "hi"') == {SUMMARY: "They talked.", AGREED_LIMIT: NO_LIMIT}
    assert [(e["purpose"], e["used"]) for e in of_type(events, "fallback")] == [("summarize_limit", NO_LIMIT)]


CATCHES = ("I caught 10 tons.", "Kate caught 40 tons.", "Jack caught 5 tons.")
LISTED = "1. Kate is greedy (because of 2)\n2. I am fair (because of 1)\n3. Jack is careful (because of 3)\n4. Too many"


def test_reflect_returns_as_many_insights_as_listed_or_reports_none():
    stream = MemoryStream()
    for text in CATCHES:
        stream.add("event", text, 5, np.ones(2), month=1)

    def insights(agent, memories):
        return asyncio.run(reflect.insights(context(agent, "reflection"), Recalled.of(agent.prompts, memories)))

    agent, llm, events = kit([LISTED])
    found = insights(agent, stream.memories)
    assert [(i.text, i.evidence) for i in found] == [("Kate is greedy", [1]), ("I am fair", [0]), ("Jack is careful", [2])]
    prompt = llm.requests[0].messages[-1]["content"]
    assert "1. 2024-01-01: I caught 10 tons." in prompt and "numbered list" in prompt  # at most one per memory shown
    capped, llm, _ = kit([LISTED], params={"insights": 2})
    assert len(insights(capped, stream.memories)) == 2
    assert insights(capped, []) == [] and len(llm.requests) == 1  # nothing recalled: no call
    agent, llm, events = kit(["Nothing to say."])
    assert insights(agent, stream.memories) == []
    assert "because of" in llm.requests[1].constraint.regex
    assert [e["purpose"] for e in of_type(events, "fallback")] == ["reflect"]


def test_reflection_recalls_stores_its_insights_and_states_them():
    agent, llm, events = kit(lambda request: LISTED if request.tag_dict["purpose"] == "reflect" else "Rating: 6")
    for vector, text in zip(asyncio.run(agent.mind.embedder.embed(CATCHES)), CATCHES):
        agent.mind.memory.add("event", text, 5, vector, month=1)
    action = asyncio.run(reflect.decide(context(agent, "reflection")))
    assert action == {REFLECTION: "Kate is greedy\nI am fair\nJack is careful"}
    stored = agent.mind.memory.memories[3:]
    assert [(m.kind, m.text, m.cites, m.importance) for m in stored] == [
        ("thought", "Kate is greedy", (1,), 6), ("thought", "I am fair", (0,), 6), ("thought", "Jack is careful", (2,), 6),
    ]
    assert [e["source"] for e in of_type(events, "insight")] == ["reflection"] * 3


def test_thoughts_after_the_talk_are_one_sentence_each_or_reported():
    def script(request):
        return "We agreed on 10 tons. I will watch Kate." if request.tag_dict["purpose"] == "think_plan" else "Kate was loud."

    report, said = "Mayor: John caught 10 tons.", 'John: "Let us take 10."'

    def after_talk(agent, month=1, **observation):
        ctx = context(agent, "reflection", month, observation={"report": report, "conversation": said, **observation})
        return [(n.kind, n.source, n.text) for n in asyncio.run(reflect.after_talk(ctx))]

    agent, llm, events = kit(script)
    assert after_talk(agent) == [("thought", "plan", "We agreed on 10 tons"), ("thought", "memorize", "Kate was loud")]
    assert [r.tag_dict["purpose"] for r in llm.requests] == ["think_plan", "think_memorize"]
    assert all(f"{report}\n{said}" in r.messages[-1]["content"] and r.constraint is None for r in llm.requests)
    assert all(r.sampling.stop == (".",) for r in llm.requests)  # the reference stops at the first period
    limit = agent.prompts.scenario.say("agreed_limit", limit=10)
    assert after_talk(agent, agreed_limit=np.array([10]))[-1] == ("thought", "limit", limit)
    agent, llm, events = kit(lambda r: "." if r.tag_dict["purpose"] == "think_plan" else "Fine.")
    assert after_talk(agent, month=2) == [("thought", "memorize", "Fine")]
    assert [r.constraint for r in llm.requests if r.tag_dict["attempt"] > 1] == [SENTENCE, SENTENCE]
    assert [(e["purpose"], e["month"]) for e in of_type(events, "fallback")] == [("think_plan", 2)]


# ---------------------------------------------------------------- perceive


def test_perception_waits_for_the_harvest_the_month_plan_puts_after_an_election():
    agent, _, _ = kit(["1"], institutions=["election", "sanctions"])
    assert agent.perception.before_harvest == {"agenda", "vote"}  # as the env's month plan has it
    last_month = {"stock": np.array([90]), "wanted": np.array([7]), "caught": np.array([7])}

    def seen(phase, **observation):
        return [n.text for n in asyncio.run(agent.perception(context(agent, phase, month=2, observation=observation)))]

    assert seen("agenda", **last_month) == seen("vote", **last_month) == []  # last month's catch is not this month's
    stock, catch = seen("harvest", **last_month), seen("sanction", **{**last_month, "caught": np.array([5])})
    say = agent.prompts.scenario.say
    assert stock == [say("stock_before_harvest", stock=90)]
    assert catch == [say("harvest_report", name="John", wanted=7, caught=5)] and seen("sanction") == []
    plain, _, _ = kit(["1"])
    assert plain.perception.before_harvest == set()


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("name", scenarios.available())
def test_every_shipped_scenario_has_every_template(name):
    check(scenarios.load(name))


def test_system_prompt_has_persona_others_and_rules():
    config = resolve("greedy_newcomer")
    scenario = scenarios.load("fishery")
    prompts = Prompts(scenario, config, "Luke", "outsider")
    system = prompts.system(["John", "Kate", "Luke"])
    assert "You are Luke" in system and "John, Kate, Jack, Emma" in system and "100 tons" in system
    assert scenario.persona("outsider") in system and "negotiate" in system and "collapse" not in system
    present_only = resolve("greedy_newcomer", overrides={"improvements.present_names_only": True})
    assert "Jack" not in Prompts(scenario, present_only, "Luke", "outsider").system(["John", "Kate", "Luke"])
    alone = Prompts(scenario, resolve("no_communication", overrides={"n_agents": 1}), "John", None).system(["John"])
    assert "no one else" in alone and "negotiate" not in alone and not alone.endswith("\n")
    with pytest.raises(KeyError, match="known"):
        Prompts(scenario, config, "Luke", "pirate")


def test_bad_templates_are_named():
    scenario = scenarios.load("fishery")
    missing = scenario.model_copy(update={"prompts": {k: v for k, v in scenario.prompts.items() if k != "summarize_limit"}})
    with pytest.raises(ValueError, match="prompts.summarize_limit"):
        check(missing)
    unknown = scenario.model_copy(update={"prompts": {**scenario.prompts, "harvest": "{wanted} left"}})
    with pytest.raises(ValueError, match="wanted"):
        check(unknown)
    assert set(FIELDS) <= set(scenario.prompts)


def test_every_retry_constraint_admits_replies_its_parser_reads():
    """What a constrained backend can produce must parse: otherwise retries are wasted."""
    cited = MemoryStream()
    cited.add("event", "m", 5, np.ones(2), month=1)
    cases = [
        (harvest.digits_constraint(100), "100", lambda t: harvest.parse_number(t) == 100),
        (RATING, "10", lambda t: parse_rating(t) == 10),
        (SENTENCE, "We agreed on ten tons.", lambda t: first_sentence(t) == "We agreed on ten tons"),
        (Constraint(regex=f"{harvest.digits_constraint(100).regex}|N/A"), "N/A", lambda t: parse_limit(t) == NO_LIMIT),
        (Constraint(regex=f"{harvest.digits_constraint(100).regex}|N/A"), "10", lambda t: parse_limit(t) == 10),
        (insights_constraint(2), "1. Be fair (because of 1)\n2. Kate is kind (because of 1, 1)",
         lambda t: len(parse_insights(t, cited.memories, 2)) == 2),
    ]
    for constraint, text, parses in cases:
        assert re.fullmatch(constraint.pattern, text), (constraint.pattern, text)
        assert parses(text), text
    assert not re.fullmatch(harvest.digits_constraint(100).regex, "1000")
