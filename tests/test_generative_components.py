"""Each component of the generative agent on a scripted model: parsing, retries, fallbacks."""

import asyncio
import re

import numpy as np
import pytest

from agents.base import AgentContext
from agents.generative import converse, harvest
from agents.generative.asking import Asker
from agents.generative.importance import CONSTRAINT as RATING, DEFAULT, Importance, parse_rating
from agents.generative.memory import MemoryStream
from agents.generative.reflect import insights_constraint, parse_insights, reflect
from agents.generative.summarize import minutes_constraint, parse_minutes, summarize
from agents.generative.templates import FIELDS, Prompts, check
from govsim import scenarios
from govsim.config import resolve
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
        ("If all take 10... Answer: 20. Hmm, no. Answer: **8** tons", 8),
        ("answer:$15", 15),
        ("Answer: -3 tons", -3),
        ("I would catch 10 tons.", None),
        ("Answer: N tons.", None),
    ],
)
def test_parse_amount(text, amount):
    assert harvest.parse_amount(text) == amount


@pytest.mark.parametrize("text, rating", [("Rating: 7", 7), ("rating = 10", 10), (" 3.", 3), ("Rating: 0", None), ("high", None)])
def test_parse_rating(text, rating):
    assert parse_rating(text) == rating


def test_parse_turn_reads_three_lines_and_checks_the_name():
    text = 'Response: "Let us take 10 each."\nConversation conclusion by me: Yes\nNext speaker: Kate.'
    turn = converse.parse_turn(text, ["Kate", "Jack"])
    assert (turn.utterance, turn.end, turn.next_speaker) == ("Let us take 10 each.", True, "Kate")
    partial = converse.parse_turn("Response: Hi all.\nNext speaker: John", ["Kate", "Jack"])
    assert (partial.utterance, partial.end, partial.next_speaker) == ("Hi all.", None, None)
    assert converse.parse_turn("Hi all, I think we should fish less.", ["Kate"]) is None


def test_parse_minutes():
    assert parse_minutes("Summary: They agreed on 10 tons each.\nLimit: 10 tons").limit == 10
    none = parse_minutes("Summary: They could not agree.\nLimit: N/A")
    assert (none.summary, none.limit) == ("They could not agree.", NO_LIMIT)
    assert parse_minutes("They talked a lot.") is None
    assert parse_minutes("Summary: x") is None


def test_parse_insights_maps_citations_to_memory_ids():
    stream = MemoryStream()
    for i in range(4):
        stream.add("event", f"m{i}", 5, np.ones(2), month=1)
    cited = stream.memories[1:]  # shown as 1, 2, 3 -> ids 1, 2, 3
    text = "Here are my insights:\n1. Sharing pays (because of 1, 3)\n- Kate is greedy (because of 2, 9)\nChatter."
    insights = parse_insights(text, cited, count=3)
    assert [(i.text, i.evidence) for i in insights] == [("Sharing pays", [1, 3]), ("Kate is greedy", [2])]
    assert parse_insights("No format at all.", cited, 3) is None
    assert len(parse_insights("a b c (because of 1)\n" * 5, cited, 2)) == 2


# ---------------------------------------------------------------- harvest


def test_harvest_retries_in_the_same_chat_under_a_regex():
    asker, prompts, llm, events = kit(["Let me think about the lake...", "Answer: 9 tons."])
    amount = asyncio.run(harvest.decide(asker, prompts, "SYS", "1. m", "100 tons in the lake", "2024-01-01", 1))
    assert amount == 9 and not of_type(events, "parse_failure")
    first, second = llm.requests
    assert first.constraint is None
    assert second.constraint.regex.startswith("Answer: ") and "tons" in second.constraint.regex
    assert second.messages[-2] == {"role": "assistant", "content": "Let me think about the lake..."}
    assert second.messages[-1]["content"] == prompts.render("harvest_retry")
    assert first.tag_dict == {"agent": "John", "purpose": "harvest", "month": 1, "attempt": 1}
    assert "100 tons in the lake" in first.messages[1]["content"] and "2024-01-01" in first.messages[1]["content"]


def test_harvest_failure_is_reported_and_makes_no_request():
    asker, prompts, llm, events = kit(["no idea"])
    amount = asyncio.run(harvest.decide(asker, prompts, "SYS", "", "obs", "2024-01-01", 3))
    assert amount is None
    assert len(llm.requests) == 3  # 1 + config.llm.retries (2)
    (failure,) = of_type(events, "parse_failure")
    assert failure == {"type": "parse_failure", "agent": "John", "purpose": "harvest", "month": 3, "text": "no idea", "attempts": 3}
    (fallback,) = of_type(events, "fallback")
    assert fallback["purpose"] == "harvest" and fallback["used"] == harvest.NO_REQUEST and fallback["reason"]


def test_retries_follow_the_config_and_constraints_need_backend_support():
    asker, prompts, llm, events = kit(["no idea"], llm_type=PlainLLM, **{"llm.retries": 0})
    asyncio.run(harvest.decide(asker, prompts, "SYS", "", "obs", "2024-01-01", 1))
    assert len(llm.requests) == 1 and of_type(events, "parse_failure")[0]["attempts"] == 1
    asker, prompts, llm, events = kit(["no idea"], llm_type=PlainLLM)
    asyncio.run(harvest.decide(asker, prompts, "SYS", "", "obs", "2024-01-01", 1))
    assert [r.constraint for r in llm.requests] == [None, None, None]


def test_sampling_comes_from_the_config():
    asker, prompts, llm, _ = kit(["Answer: 1"], **{"llm.temperature": 0.2, "llm.top_p": 0.9, "llm.max_tokens": 77})
    asyncio.run(harvest.decide(asker, prompts, "SYS", "", "obs", "2024-01-01", 1))
    sampling = llm.requests[0].sampling
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens) == (0.2, 0.9, 77)


# ---------------------------------------------------------------- importance


def test_importance_is_constrained_from_the_first_attempt():
    asker, prompts, llm, events = kit(["Rating: 8"])
    assert asyncio.run(Importance(asker, prompts).rate("Kate took 50 tons", PRESENT, 1)) == 8
    (request,) = llm.requests
    assert request.constraint.regex == r"Rating: ([1-9]|10)" and request.sampling.max_tokens <= 12
    assert "Kate took 50 tons" in request.messages[-1]["content"] and request.tag_dict["purpose"] == "importance"


def test_importance_fallback_is_default_and_reported():
    asker, prompts, llm, events = kit(["very important!"])
    assert asyncio.run(Importance(asker, prompts).rate("x", PRESENT, 2)) == DEFAULT
    assert len(of_type(events, "parse_failure")) == 1
    assert of_type(events, "fallback")[0] | {"reason": ""} == {
        "type": "fallback", "agent": "John", "purpose": "importance", "month": 2, "used": DEFAULT, "reason": ""
    }


def test_fixed_importance_asks_nothing():
    asker, prompts, llm, _ = kit(["Rating: 9"])
    assert asyncio.run(Importance(asker, prompts, fixed=4).rate("x", PRESENT, 1)) == 4
    assert llm.requests == []
    with pytest.raises(ValueError):
        Importance(asker, prompts, fixed=11)


# ---------------------------------------------------------------- converse


def speak(asker, prompts, present=PRESENT, others=None):
    others = [p for p in present if p != "John"] if others is None else others
    return asyncio.run(
        converse.speak(
            asker, prompts, np.random.default_rng(0), "SYS", date="2024-01-01", present=present, others=others,
            memories="1. m", conversation="Mayor: report", month=1,
        )
    )


def test_converse_reads_a_well_formed_turn_in_one_call():
    asker, prompts, llm, events = kit(["Response: Ten each?\nConversation conclusion by me: no\nNext speaker: Jack"])
    turn = speak(asker, prompts)
    assert (turn.utterance, turn.end, turn.next_speaker) == ("Ten each?", False, "Jack")
    assert len(llm.requests) == 1 and not events
    content = llm.requests[0].messages[1]["content"]
    assert "Mayor: report" in content and "Kate, Jack" in content and "John, Kate, Jack" in content


def test_converse_asks_for_missing_parts_with_choices():
    replies = iter(["Response: Ten each?\nNext speaker: John", "yes", "Kate"])
    asker, prompts, llm, events = kit(lambda request: next(replies))
    turn = speak(asker, prompts)
    assert (turn.end, turn.next_speaker) == (True, "Kate")
    _, end, nxt = llm.requests
    assert end.constraint.choice == ("yes", "no") and end.tag_dict["purpose"] == "converse_end"
    assert nxt.constraint.choice == ("Kate", "Jack") and nxt.tag_dict["purpose"] == "converse_next"
    assert end.messages[-2]["role"] == "assistant" and end.messages[-1]["content"] == prompts.render("converse_end")
    assert not events


def test_converse_with_one_other_needs_no_name():
    asker, prompts, llm, events = kit(["Response: Hi.\nConversation conclusion by me: yes\nNext speaker: me"])
    turn = speak(asker, prompts, present=["John", "Kate"])
    assert turn.next_speaker == "Kate" and len(llm.requests) == 1 and not events


def test_converse_names_only_the_given_others_and_none_when_isolated():
    asker, prompts, llm, events = kit(["Response: Hi.\nConversation conclusion by me: no\nNext speaker: Kate"])
    assert speak(asker, prompts, others=["Jack"]).next_speaker == "Jack" and len(llm.requests) == 1
    asker, prompts, llm, events = kit(["Hi.", "Response: Hi.\nConversation conclusion by me: no"])
    turn = speak(asker, prompts, others=[])
    assert (turn.utterance, turn.next_speaker) == ("Hi.", None) and not events
    assert "Next speaker" not in llm.requests[1].constraint.regex


def test_converse_fallbacks_are_reported():
    # parts missing and a backend without constraints that keeps answering nonsense
    replies = iter(["Response: Ten each?"] + ["hmm"] * 6)
    asker, prompts, llm, events = kit(lambda request: next(replies), llm_type=PlainLLM)
    turn = speak(asker, prompts)
    assert turn.utterance == "Ten each?" and turn.end is False and turn.next_speaker in ("Kate", "Jack")
    assert sorted(e["purpose"] for e in of_type(events, "parse_failure")) == ["converse_end", "converse_next"]
    assert sorted(e["purpose"] for e in of_type(events, "fallback")) == ["converse_end", "converse_next"]
    assert len(llm.requests) == 7


def test_converse_without_a_response_says_the_reply_and_reports_it():
    asker, prompts, llm, events = kit(["I think we should all take less.\nNext speaker: Kate"])
    turn = speak(asker, prompts)
    assert turn.utterance == "I think we should all take less." and turn.end is False
    assert llm.requests[1].constraint.regex.startswith("Response: ")
    assert "(Kate|Jack)" in llm.requests[1].constraint.regex
    (fallback,) = of_type(events, "fallback")
    assert fallback["purpose"] == "converse" and fallback["used"]["next_speaker"] in ("Kate", "Jack")
    assert len(of_type(events, "parse_failure")) == 1


# ---------------------------------------------------------------- summarize and reflect


def test_summarize_reads_limit_or_na_and_falls_back_to_no_limit():
    asker, prompts, llm, events = kit(["Summary: All agreed on 10 tons.\nLimit: 10 tons"])
    minutes = asyncio.run(summarize(asker, prompts, "SYS", "John: 10?", 1))
    assert (minutes.summary, minutes.limit) == ("All agreed on 10 tons.", 10)
    assert "John: 10?" in llm.requests[0].messages[1]["content"]
    asker, prompts, llm, events = kit(["They talked."])
    minutes = asyncio.run(summarize(asker, prompts, "SYS", "John: 10?", 1))
    assert (minutes.summary, minutes.limit) == ("They talked.", NO_LIMIT)
    assert llm.requests[1].constraint.regex.startswith("Summary: ")
    assert of_type(events, "fallback")[0]["used"] == {"summary": "They talked.", "agreed_limit": NO_LIMIT}


def test_reflect_returns_insights_or_reports_none():
    stream = MemoryStream()
    for text in ("I caught 10 tons.", "Kate caught 40 tons."):
        stream.add("event", text, 5, np.ones(2), month=1)
    asker, prompts, llm, events = kit(["Kate is greedy (because of 2)\nI am fair (because of 1)"])
    insights = asyncio.run(reflect(asker, prompts, "SYS", stream.memories, 3, 1))
    assert [(i.text, i.evidence) for i in insights] == [("Kate is greedy", [1]), ("I am fair", [0])]
    prompt = llm.requests[0].messages[1]["content"]
    assert "1. 2024-01-01: I caught 10 tons." in prompt and "Give 3 insights" in prompt
    asker, prompts, llm, events = kit(["Nothing to say."])
    assert asyncio.run(reflect(asker, prompts, "SYS", stream.memories, 3, 1)) == []
    assert "because of" in llm.requests[1].constraint.regex
    assert [e["purpose"] for e in of_type(events, "fallback")] == ["reflect"]


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("name", scenarios.available())
def test_every_shipped_scenario_has_every_template(name):
    check(scenarios.load(name))


def test_system_prompt_has_persona_others_and_rules():
    config = resolve("greedy_newcomer")
    scenario = scenarios.load("fishery")
    prompts = Prompts(scenario, config, "Luke", "greedy_newcomer")
    system = prompts.system(["John", "Kate", "Luke"])
    assert "You are Luke" in system and "John, Kate" in system and "100 tons" in system
    assert scenario.persona("greedy_newcomer") in system and "meet in town" in system
    alone = Prompts(scenario, resolve("no_communication", overrides={"n_agents": 1}), "John", None).system(["John"])
    assert "no one else" in alone and "meet in town" not in alone and not alone.endswith("\n")
    with pytest.raises(KeyError, match="known"):
        Prompts(scenario, config, "Luke", "pirate")


def test_bad_templates_are_named():
    scenario = scenarios.load("fishery")
    missing = scenario.model_copy(update={"prompts": {k: v for k, v in scenario.prompts.items() if k != "converse_end"}})
    with pytest.raises(ValueError, match="prompts.converse_end"):
        check(missing)
    unknown = scenario.model_copy(update={"prompts": {**scenario.prompts, "harvest": "{stock} left"}})
    with pytest.raises(ValueError, match="stock"):
        check(unknown)
    assert set(FIELDS) <= set(scenario.prompts)


def test_every_retry_constraint_admits_replies_its_parser_reads():
    """What a constrained backend can produce must parse: otherwise retries are wasted."""
    cited = MemoryStream()
    cited.add("event", "m", 5, np.ones(2), month=1)
    cases = [
        (harvest.answer_constraint(100, "tons"), "Answer: 100 tons.", lambda t: harvest.parse_amount(t) == 100),
        (RATING, "Rating: 10", lambda t: parse_rating(t) == 10),
        (converse.turn_constraint(["Kate", "Jack"]), "Response: Ten?\nConversation conclusion by me: yes\nNext speaker: Jack",
         lambda t: converse.parse_turn(t, ["Kate", "Jack"]).next_speaker == "Jack"),
        (minutes_constraint(100, "tons"), "Summary: None agreed.\nLimit: N/A",
         lambda t: parse_minutes(t).limit == NO_LIMIT),
        (minutes_constraint(100, "tons"), "Summary: Ten.\nLimit: 10 tons", lambda t: parse_minutes(t).limit == 10),
        (insights_constraint(2), "Be fair (because of 1)\nKate is kind (because of 1, 1)",
         lambda t: len(parse_insights(t, cited.memories, 2)) == 2),
    ]
    for constraint, text, parses in cases:
        assert re.fullmatch(constraint.regex, text), (constraint.regex, text)
        assert parses(text), text
    assert not re.fullmatch(harvest.answer_constraint(100, "tons").regex, "Answer: 1000 tons.")
