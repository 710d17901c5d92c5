"""Each component of the generative agent on a scripted model: parsing, retries, fallbacks."""

import asyncio
import re

import numpy as np
import pytest

from agents.base import AgentContext
from agents.generative import converse, harvest
from agents.generative.asking import Asker
from agents.generative.importance import CONSTRAINT as RATING
from agents.generative.importance import DEFAULT, Importance, parse_rating
from agents.generative.memory import KINDS, MemoryStream
from agents.generative.reflect import SENTENCE, first_sentence, insights_constraint, parse_insights, reflect, think_after_talk
from agents.generative.summarize import one_sentence, parse_limit, summarize
from agents.generative.templates import FIELDS, Prompts, check
from govsim import scenarios
from govsim.config import resolve
from govsim.llm.base import Constraint
from govsim.llm.fake import FakeLLM
from govsim.phases import NO_LIMIT

PRESENT = ["John", "Kate", "Jack"]


class PlainLLM(FakeLLM):
    """A backend that cannot enforce constraints."""

    supports_constraints = False


def kit(replies, llm_type=FakeLLM, **overrides):
    """(asker, prompts, llm, events) for seat John of a 3-agent fishery."""
    config = resolve("default", overrides={"n_agents": 3, **overrides})
    llm, events = llm_type(replies), []
    scenario = scenarios.load(config.scenario)
    seat = config.agents[0]
    ctx = AgentContext(seat, config, scenario, np.random.default_rng(0), events.append, llm)
    return Asker(ctx), Prompts(scenario, config, seat.name, seat.persona), llm, events


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text, amount",
    [
        ("Answer: 12 tons.", 12),
        ("If all take 10...\nAnswer: 20. Hmm, no.\n**Answer**: **8** tons", 8),
        ("So, the answer is: 15", 15),
        ("Kate said 'Answer: 90 tons' at the meeting.", None),  # a quoted answer is not the reply's own
        ("I would catch 10 tons.", None),
        ("Answer: N tons.", None),
    ],
)
def test_parse_amount_reads_the_replys_own_final_answer_line(text, amount):
    assert harvest.parse_amount(text) == amount


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
    assert converse.listing(["A", "B", "C"]) == "A, B, and C" and converse.listing(["A", "B"]) == "A and B"


def test_the_minutes_parsers():
    assert parse_limit("10") == 10 and parse_limit(" N/A") == NO_LIMIT and parse_limit("none of it") is None
    assert one_sentence(" They agreed on 10 tons. Then more.") == "They agreed on 10 tons."
    assert one_sentence(". nothing") == ""


def test_parse_insights_maps_citations_to_memory_ids():
    stream = MemoryStream()
    for i in range(4):
        stream.add("event", f"m{i}", 5, np.ones(2), month=1)
    cited = stream.memories[1:]  # shown as 1, 2, 3 -> ids 1, 2, 3
    text = "Here are my insights:\n1. Sharing pays (because of 1, 3)\n2) **Kate is greedy** (because of 2, 9)\n3. Jack is quiet\nChatter."
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


def decide(asker, prompts, month=1, stock=100):
    return asyncio.run(
        harvest.decide(asker, prompts, system="SYS", date="2024-01-01", memories="- m", stock=stock, month=month)
    )


def test_harvest_reasons_then_reads_the_number_of_a_continuation():
    asker, prompts, llm, events = kit(["Let me think about the lake...", "9"])
    assert decide(asker, prompts) == 9 and not of_type(events, "parse_failure")
    first, second = llm.requests
    assert first.constraint is None and first.sampling.stop == harvest.MARKERS
    assert first.messages == ({"role": "user", "content": first.messages[0]["content"]},)
    assert first.messages[0]["content"].startswith("SYS\n")
    assert second.messages[-1] == {"role": "assistant", "content": "Let me think about the lake...\nAnswer: "}
    assert second.constraint.regex == "(0|[1-9][0-9]{0,2})" and second.sampling.max_tokens == harvest.AMOUNT_TOKENS
    assert first.tag_dict == {"agent": "John", "purpose": "harvest", "month": 1, "attempt": 1}
    assert second.tag_dict["purpose"] == "harvest_amount"


def test_harvest_failure_is_reported_and_makes_no_request():
    asker, prompts, llm, events = kit(["no idea"], llm_type=PlainLLM)
    assert decide(asker, prompts, month=3) is None
    assert len(llm.requests) == 1 + 3  # the reasoning, then 1 + config.llm.retries (2) continuations
    (failure,) = of_type(events, "parse_failure")
    assert failure == {
        "type": "parse_failure", "agent": "John", "purpose": "harvest_amount", "month": 3, "text": "no idea",
        "attempts": 3,
    }
    (fallback,) = of_type(events, "fallback")
    assert fallback["purpose"] == "harvest_amount" and fallback["used"] == harvest.NO_REQUEST and fallback["reason"]


def test_retries_follow_the_config_and_constraints_need_backend_support():
    asker, prompts, llm, events = kit(["no idea"], llm_type=PlainLLM, **{"llm.retries": 0})
    decide(asker, prompts)
    assert len(llm.requests) == 2 and of_type(events, "parse_failure")[0]["attempts"] == 1
    assert [r.constraint for r in llm.requests] == [None, None]


def test_sampling_comes_from_the_config():
    asker, prompts, llm, _ = kit(["1"], **{"llm.temperature": 0.2, "llm.top_p": 0.9, "llm.max_tokens": 77})
    decide(asker, prompts)
    sampling = llm.requests[0].sampling
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens) == (0.2, 0.9, 77)


# ---------------------------------------------------------------- importance


def test_importance_is_a_choice_of_1_to_10_from_the_first_attempt():
    asker, prompts, llm, events = kit(["Rating: 8", "10"])
    assert asyncio.run(Importance(asker, prompts).rate("event", "Kate took 50 tons", PRESENT, 1)) == 8
    assert asyncio.run(Importance(asker, prompts).rate("event", "x", PRESENT, 1)) == 10
    request = llm.requests[0]
    assert set(request.constraint.choice) == {str(n) for n in range(1, 11)} and request.sampling.max_tokens <= 12
    assert "Kate took 50 tons" in request.messages[0]["content"] and request.tag_dict["purpose"] == "importance"
    plain, prompts, llm, _ = kit(["Rating (1 to 10): 3"], PlainLLM)  # no constraints: read from free text
    assert asyncio.run(Importance(plain, prompts).rate("chat", "x", PRESENT, 1)) == 3
    assert llm.requests[0].constraint is None


def test_importance_has_one_prompt_per_kind_of_memory():
    asker, prompts, llm, _ = kit(["7"])
    for kind in KINDS:
        asyncio.run(Importance(asker, prompts).rate(kind, "the memory", PRESENT, 1))
    users = [r.messages[0]["content"] for r in llm.requests]
    assert len(set(users)) == 4 and all("the memory" in u and "1 to 10" in u for u in users)
    for kind, user in zip(KINDS, users):
        assert user.endswith(prompts.render(f"importance_{kind}", name="John", memory="the memory"))
    assert "Conversation:" in users[KINDS.index("chat")] and "Thought:" in users[KINDS.index("thought")]
    assert all(r.messages[-1] == {"role": "assistant", "content": "Rating (1 to 10): "} for r in llm.requests)


def test_importance_fallback_is_default_and_reported():
    asker, prompts, llm, events = kit(["very important!"], PlainLLM)
    assert asyncio.run(Importance(asker, prompts).rate("event", "x", PRESENT, 2)) == DEFAULT
    assert len(of_type(events, "parse_failure")) == 1
    assert of_type(events, "fallback")[0] | {"reason": ""} == {
        "type": "fallback", "agent": "John", "purpose": "importance", "month": 2, "used": DEFAULT, "reason": ""
    }


def test_fixed_importance_asks_nothing():
    asker, prompts, llm, _ = kit(["Rating: 9"])
    assert asyncio.run(Importance(asker, prompts, fixed=4).rate("thought", "x", PRESENT, 1)) == 4
    assert llm.requests == []
    with pytest.raises(ValueError):
        Importance(asker, prompts, fixed=11)


# ---------------------------------------------------------------- converse


def speak(asker, prompts, present=PRESENT, names=None):
    names = list(present) if names is None else names
    return asyncio.run(
        converse.speak(
            asker, prompts, system="SYS", date="2024-01-30", present=present, names=names,
            memories="- m", conversation="-Mayor: report", month=1,
        )
    )


def test_converse_writes_the_utterance_then_continues_with_the_choices():
    replies = iter([' "Ten each?" ', "no", "Jack"])
    asker, prompts, llm, events = kit(lambda request: next(replies))
    turn = speak(asker, prompts)
    assert (turn.utterance, turn.end, turn.next_speaker) == ("Ten each?", False, "Jack") and not events
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
    asker, prompts, llm, events = kit(lambda request: next(replies))
    turn = speak(asker, prompts)
    assert (turn.end, turn.next_speaker) == (True, None) and len(llm.requests) == 2 and not events


def test_converse_offers_only_the_given_names_and_none_when_isolated():
    replies = iter(["Hi.", "no", "Jack"])
    asker, prompts, llm, events = kit(lambda request: next(replies))
    assert speak(asker, prompts, names=["Jack"]).next_speaker == "Jack"
    assert llm.requests[-1].constraint.choice == ("Jack",)
    replies = iter(["Hi.", "no"])
    asker, prompts, llm, events = kit(lambda request: next(replies))
    turn = speak(asker, prompts, names=[])
    assert (turn.utterance, turn.end, turn.next_speaker) == ("Hi.", True, None) and len(llm.requests) == 2


def test_converse_fallbacks_are_the_references_defaults_and_reported():
    # a backend without constraints that keeps answering nonsense to the choices
    replies = iter(["Ten each?"] + ["hmm"] * 3)
    asker, prompts, llm, events = kit(lambda request: next(replies), llm_type=PlainLLM)
    turn = speak(asker, prompts)
    assert (turn.utterance, turn.end, turn.next_speaker) == ("Ten each?", True, None)
    assert [e["purpose"] for e in of_type(events, "parse_failure")] == ["converse_end"]
    assert [(e["purpose"], e["used"]) for e in of_type(events, "fallback")] == [("converse_end", True)]
    replies = iter(["Ten each?", "no", "hmm", "hmm", "hmm"])
    asker, prompts, llm, events = kit(lambda request: next(replies), llm_type=PlainLLM)
    assert speak(asker, prompts).next_speaker == "John"  # the first name offered
    assert [(e["purpose"], e["used"]) for e in of_type(events, "fallback")] == [("converse_next", "John")]


# ---------------------------------------------------------------- summarize and reflect


def test_summarize_asks_twice_without_a_persona_and_falls_back_to_no_limit():
    replies = iter(["All agreed on 10 tons", "They said ten.", "10"])
    asker, prompts, llm, events = kit(lambda request: next(replies))
    minutes = asyncio.run(summarize(asker, prompts, "-John: \"10?\"", 1))
    assert (minutes.summary, minutes.limit) == ("All agreed on 10 tons.", 10) and not events
    summary, reasoning, limit = llm.requests
    assert summary.messages[0]["content"].startswith("Conversation:\n-John:") and summary.sampling.stop == (".",)
    assert "fisherman" not in reasoning.messages[0]["content"] and reasoning.sampling.stop == ("Answer:",)
    assert limit.messages[-1]["content"] == "They said ten.\nAnswer: " and limit.constraint.regex.endswith("|N/A")
    replies = iter(["They talked", "No number.", "hmm", "hmm", "hmm"])
    asker, prompts, llm, events = kit(lambda request: next(replies), llm_type=PlainLLM)
    minutes = asyncio.run(summarize(asker, prompts, "-John: \"hi\"", 1))
    assert (minutes.summary, minutes.limit) == ("They talked.", NO_LIMIT)
    assert [(e["purpose"], e["used"]) for e in of_type(events, "fallback")] == [("summarize_limit", NO_LIMIT)]


def test_reflect_returns_as_many_insights_as_listed_or_reports_none():
    stream = MemoryStream()
    for text in ("I caught 10 tons.", "Kate caught 40 tons.", "Jack caught 5 tons."):
        stream.add("event", text, 5, np.ones(2), month=1)
    listed = "1. Kate is greedy (because of 2)\n2. I am fair (because of 1)\n3. Jack is careful (because of 3)\n4. Too many"
    asker, prompts, llm, events = kit([listed])
    insights = asyncio.run(reflect(asker, prompts, "SYS", stream.memories, 1))
    assert [(i.text, i.evidence) for i in insights] == [("Kate is greedy", [1]), ("I am fair", [0]), ("Jack is careful", [2])]
    prompt = llm.requests[0].messages[-1]["content"]
    assert "1. 2024-01-01: I caught 10 tons." in prompt and "numbered list" in prompt  # at most one per memory shown
    assert len(asyncio.run(reflect(asker, prompts, "SYS", stream.memories, 1, cap=2))) == 2
    assert asyncio.run(reflect(asker, prompts, "SYS", [], 1)) == [] and len(llm.requests) == 2  # nothing recalled: no call
    asker, prompts, llm, events = kit(["Nothing to say."])
    assert asyncio.run(reflect(asker, prompts, "SYS", stream.memories, 1)) == []
    assert "because of" in llm.requests[1].constraint.regex
    assert [e["purpose"] for e in of_type(events, "fallback")] == ["reflect"]


def test_thoughts_after_the_talk_are_one_sentence_each_or_reported():
    def script(request):
        return "We agreed on 10 tons. I will watch Kate." if request.tag_dict["purpose"] == "think_plan" else "Kate was loud."

    asker, prompts, llm, events = kit(script)
    talk = "Mayor: John caught 10 tons.\nJohn: \"Let us take 10.\""
    thoughts = asyncio.run(think_after_talk(asker, prompts, "SYS", talk, 1))
    assert thoughts == [("think_plan", "We agreed on 10 tons"), ("think_memorize", "Kate was loud")]
    assert [r.tag_dict["purpose"] for r in llm.requests] == ["think_plan", "think_memorize"]
    assert all(talk in r.messages[-1]["content"] and r.constraint is None for r in llm.requests)
    assert all(r.sampling.stop == (".",) for r in llm.requests)  # the reference stops at the first period
    asker, prompts, llm, events = kit(lambda r: "." if r.tag_dict["purpose"] == "think_plan" else "Fine.")
    assert asyncio.run(think_after_talk(asker, prompts, "SYS", talk, 2)) == [("think_memorize", "Fine")]
    assert [r.constraint for r in llm.requests if r.tag_dict["attempt"] > 1] == [SENTENCE, SENTENCE]
    assert [(e["purpose"], e["month"]) for e in of_type(events, "fallback")] == [("think_plan", 2)]


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
        (harvest.answer_constraint(100, "tons"), "Answer: 100 tons.", lambda t: harvest.parse_amount(t) == 100),
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
    assert not re.fullmatch(harvest.answer_constraint(100, "tons").regex, "Answer: 1000 tons.")
