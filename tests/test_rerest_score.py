"""Re-ReST: the environment's check of a harvest reply and its numeric feedback."""

import pytest

from govsim import scenarios
from govsim.dynamics import Regeneration
from govsim.rerest.reply import Reader
from govsim.rerest.score import State, score
from govsim.rerest.texts import Texts, load_templates
from govsim.templating import TemplateError


@pytest.fixture
def fishery():
    return Texts(scenarios.load("fishery"))


FULL = State(stock=100, n_agents=5, threshold=10)


def test_the_spec_example_collapses_the_lake(fishery):
    result = score(FULL, "I want a lot. Answer: 40 tons.", fishery)
    assert not result.passed and result.amount == 40 and result.kind == "collapse"
    assert result.feedback == (
        "You chose 40 tons. The sustainable maximum per fisherman this month was 10. "
        "If all 5 did as you did, 200 tons would be taken from 100 and the lake would collapse this month."
    )


def test_over_threshold_without_collapse_says_how_far_the_stock_shrinks(fishery):
    result = score(FULL, "Answer: 12 tons", fishery)
    assert result.kind == "shrink" and not result.passed
    assert "60 tons would be taken from 100, only 40 would be left" in result.feedback
    assert "the lake would hold 80 tons next month instead of 100" in result.feedback


@pytest.mark.parametrize("text, passed, kind", [
    ("Answer: 10 tons.", True, "passed"),
    ("Answer: 1", True, "passed"),
    ("Answer: 11", False, "shrink"),
    ("Answer: 0 tons", False, "zero"),
    ("I will fish ten tons", False, "unparsed"),
    ("I take 30. Answer: 5 then Answer: 30", True, "passed"),  # the first marker counts: there the agent's reasoning stops
    ("So, the answer is: 40", False, "collapse"),  # every marker of the reference counts
    ("answer: 5", False, "unparsed"),  # markers are case-sensitive, as the stop strings
    ("Answer: some", False, "unparsed"),
])
def test_pass_means_parsed_and_within_zero_and_threshold(fishery, text, passed, kind):
    result = score(FULL, text, fishery)
    assert (result.passed, result.kind) == (passed, kind)


def test_a_reply_counts_as_the_agents_first_reply_only_within_its_budget(fishery):
    reasoning = "one two three four five six"
    fits, late = Reader(budget=7), Reader(budget=6)  # six words, then 'Answer:': 7 whitespace tokens
    assert score(FULL, f"{reasoning}\nAnswer: 8", fishery, fits).passed
    over = score(FULL, f"{reasoning}\nAnswer: 8", fishery, late)
    assert (over.passed, over.kind, over.amount) == (False, "over_budget", 8)
    assert over.feedback.startswith("Your reply did not reach 'Answer:' within 6 tokens")
    assert "The sustainable maximum per fisherman this month was 10 tons." in over.feedback


def test_passing_feedback_projects_the_next_month(fishery):
    result = score(FULL, "Answer: 8", fishery)
    assert result.feedback == (
        "You chose 8 tons, within the sustainable maximum of 10 per fisherman. "
        "If all 5 did as you did, 40 tons would be taken from 100 and the lake would hold 100 tons next month."
    )


def test_unparsed_reply_gets_the_format_and_the_number(fishery):
    result = score(FULL, "maybe some fish", fishery)
    assert result.amount is None
    assert result.feedback.startswith("Your reply gave no amount in the form 'Answer: N tons.'")
    assert "The sustainable maximum per fisherman this month was 10 tons." in result.feedback
    assert result.feedback.endswith("'Answer: 10 tons.'")


def test_an_agreed_limit_below_the_threshold_binds(fishery):
    state = State(stock=100, n_agents=5, threshold=10, agreed_limit=6)
    over = score(state, "Answer: 8", fishery)
    assert over.kind == "over_limit" and not over.passed
    assert over.feedback == (
        "You chose 8 tons, but the fishermen agreed that nobody takes more than 6 tons per month "
        "(the sustainable maximum per fisherman was 10)."
    )
    within = score(state, "Answer: 6", fishery)
    assert within.passed and "and within the agreed limit of 6 tons" in within.feedback


def test_a_limit_above_the_threshold_does_not_excuse_overfishing(fishery):
    state = State(stock=100, n_agents=5, threshold=10, agreed_limit=20)
    assert score(state, "Answer: 15", fishery).kind == "shrink"


def test_when_nothing_can_be_taken_sustainably_zero_passes(fishery):
    state = State(stock=8, n_agents=5, threshold=0)
    assert score(state, "Answer: 0", fishery).passed
    assert score(state, "Answer: 1", fishery).kind == "collapse"  # 8 - 5 = 3 < 5


def test_regeneration_rule_of_the_run_is_used(fishery):
    logistic = State(stock=60, n_agents=2, threshold=5, capacity=100, regeneration=Regeneration(rule="logistic"))
    result = score(logistic, "Answer: 4", fishery)
    # 60 - 8 = 52 -> 52 + 52 * 0.48 = 76.96 -> 76
    assert result.passed and "the lake would hold 76 tons next month" in result.feedback


def test_feedback_speaks_the_scenario_vocabulary():
    pasture = Texts(scenarios.load("pasture"))
    vocab = scenarios.load("pasture").vocabulary
    feedback = score(FULL, "Answer: 40", pasture).feedback
    assert vocab.unit in feedback and vocab.harvester in feedback and "tons" not in feedback


def test_reflection_prompt_holds_situation_reply_and_feedback(fishery):
    situation = [{"role": "system", "content": "You are John."}, {"role": "user", "content": "How many tons?"}]
    messages = fishery.reflection_messages(situation, "Answer: 40", "You chose 40 tons.", 10)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "You are John.\n\nHow many tons?" in user and "Answer: 40" in user and "You chose 40 tons." in user
    assert "fisherman" in messages[0]["content"]


def test_a_templates_file_with_an_unknown_field_fails_naming_the_key(tmp_path):
    good = load_templates(None)
    bad = {**good, "feedback": {**good["feedback"], "zero": "You chose {amout}"}}
    import yaml

    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(TemplateError, match=r"feedback.zero: unknown field\(s\) \['amout'\]"):
        load_templates(str(path))
    path.write_text(yaml.safe_dump({"feedback": good["feedback"]}))
    with pytest.raises(TemplateError, match="reflection.system is missing"):
        load_templates(str(path))
    path.write_text(yaml.safe_dump({**good, "reflection": {**good["reflection"], "user": "{reply"}}))
    with pytest.raises(TemplateError, match=r"reflection.user: bad template \(expected '}' before end of string"):
        load_templates(str(path))


def test_training_examples_are_measured_in_tokens():
    from govsim.llm.base import LLMError
    from govsim.llm.embedded import resolve_model
    from govsim.rerest.train import token_lengths

    try:
        folder = resolve_model("embedded")
    except LLMError as exc:
        pytest.skip(str(exc))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    short = {"prompt": [{"role": "user", "content": "How many?"}], "completion": [{"role": "assistant", "content": "Answer: 5"}]}
    long = {**short, "prompt": [{"role": "user", "content": "fish " * 300}]}
    a, b = token_lengths(tokenizer, [short, long])
    assert 5 < a < 40 and b > 300
