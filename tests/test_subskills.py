"""Subskill tests: the eight tests' items, their correct answers, reading replies, scoring."""

import asyncio
import json

import pytest
from typer.testing import CliRunner

from govsim import scenarios, subskills
from govsim.cli import app
from govsim.config import ConfigError, LLMConfig
from govsim.llm.base import LLM, Completion
from govsim.llm.fake import FakeLLM

TESTS = [
    "math_shrinking_limit", "sim_shrinking_limit", "math_consequence", "sim_consequence", "sim_choose",
    "sim_choose_universalization", "math_shrinking_limit_assumption", "sim_shrinking_limit_assumption",
]
SCENARIOS = ["fishery", "pasture", "pollution"]


def replying(items, answer):
    """A fake model that replies ``answer(item)`` to each item it is asked."""
    table = {(i.test, i.scenario, i.index): i for i in items}
    return FakeLLM(lambda r: answer(table[(r.tag_dict["subskill"], r.tag_dict["scenario"], r.tag_dict["index"])]))


def ask(items, answer):
    return asyncio.run(subskills.ask(replying(items, answer), items, subskills.Sampling()))


@pytest.fixture(scope="module")
def items():
    return subskills.make_items(SCENARIOS, items=12, seed=3)


def test_eight_tests_build_valid_items_in_every_scenario(items):
    assert len(items) == 3 * 8 * 12
    assert list(dict.fromkeys(i.test for i in items)) == TESTS
    for item in items:
        scenario = scenarios.load(item.scenario)
        assert 10 <= item.stock <= 100 and "{" not in item.prompt and "}" not in item.prompt
        assert item.prompt.rstrip().endswith('Put the final answer after "Answer:".')
        assert "collapse" not in item.prompt and "ever again" not in item.prompt  # paper rules: no collapse rule
        assert (item.amount is not None) == (item.question == "consequence")
        if item.form == "math":
            assert item.name is None and "Key memories" not in item.prompt and "You are" not in item.prompt
            assert item.prompt.startswith("Five ")
        else:
            others = [n for n in subskills.templates().wording(item.scenario).names if n != item.name]
            assert item.prompt.startswith(f"You are {item.name}, a {scenario.vocabulary.harvester}.")
            assert all(n in item.prompt.split("\n")[0] for n in others)
            assert "For example, if" in item.prompt and "$1,000" in item.prompt  # the full rules
            assert f"Location: {scenario.vocabulary.place}\nDate: 2024-01-01" in item.prompt
            assert f"Key memories of {item.name} (one per line, as YYYY-MM-DD: memory):" in item.prompt
            assert f"- 2024-01-01: {scenario.say('stock_before_harvest', stock=item.stock)}" in item.prompt
            assert "\nTask: " in item.prompt
    fishery = {i.test: i for i in items if i.scenario == "fishery" and i.index == 0}
    x = fishery["math_consequence"]
    assert f"the lake holds {x.stock} tons of fish" in x.prompt and f"takes {x.amount} tons" in x.prompt
    assert "Assume every fisherman takes the same amount" in fishery["math_shrinking_limit_assumption"].prompt
    assert "Assume" not in fishery["math_shrinking_limit"].prompt
    choose = fishery["sim_choose"]
    assert f"anywhere from 0 to {choose.stock} tons" in choose.prompt
    pollution = {i.test: i for i in items if i.scenario == "pollution" and i.index == 0}
    assert f"is {pollution['math_consequence'].stock}% unpolluted" in pollution["math_consequence"].prompt
    assert "pallets of widgets will you make" in pollution["sim_choose"].prompt
    assert len({i.stock for i in items if i.test == "sim_consequence"}) > 5  # random stocks, not one repeated


def test_correct_answers_follow_the_dynamics(items):
    for item in items:
        f = (item.stock // 2) // 5
        assert item.threshold == f
        if item.question == "consequence":
            assert 0 <= 5 * item.amount <= item.stock
            assert item.correct_answer == max(0, min(100, (item.stock - 5 * item.amount) * 2))
        else:
            assert item.correct_answer == f


@pytest.mark.parametrize(
    "question, stock, amount, correct",
    [("consequence", 60, 4, 80), ("consequence", 59, 3, 88), ("consequence", 90, 2, 100), ("consequence", 10, 2, 0),
     ("shrinking_limit", 97, 0, 9), ("shrinking_limit", 100, 0, 10), ("shrinking_limit_assumption", 19, 0, 1),
     ("choose", 45, 0, 4)],
)
def test_correct_answer_by_hand(question, stock, amount, correct):
    assert subskills.QUESTIONS[question][0](stock, amount) == correct


def test_pass_rules():
    exact, within = subskills.QUESTIONS["shrinking_limit"][1], subskills.QUESTIONS["choose"][1]
    assert exact(9, 9) and not exact(8, 9) and not exact(10, 9)
    assert [within(a, 9) for a in (0, 1, 9, 10)] == [False, True, True, False]
    assert within(0, 0) and not within(1, 0)  # the reference's rule when f(h) is 0


@pytest.mark.parametrize(
    "text, number",
    [("Answer: 12", 12), ("So each takes 9. Answer: 12 tons.", 12), ("So, the answer is: 7", 7),
     ("so the answer is 7 tons", 7), ("The answer is: 25%", 25), ("**Answer**: 15", 15), ("**Answer:** 15", 15),
     ("Answer:\n\n10 tons", 10), ("Answer: 8.6", 8), ("Answer: each of us can take 9 tons", 9),
     ("Answer: 3 tons. Wait, Answer: 5", 3), ("I would take 10 tons.", None), ("The largest number is 100.", None),
     ("Answer: none at all", None), ("", None), (None, None)],
)
def test_parse_reads_the_reference_answer_forms(text, number):
    assert subskills.parse_answer(text) == number


def test_universalization_variant_carries_the_hint(items):
    for item in items:
        hint = scenarios.load(item.scenario).say("universalization_hint", threshold=item.threshold)
        assert (f"- 2024-01-01: {hint}" in item.prompt) == (item.test == "sim_choose_universalization")
    paired = {(i.scenario, i.index): i for i in items if i.test == "sim_choose"}
    for item in items:
        if item.test == "sim_choose_universalization":
            assert item.universalization and item.question == "choose" and item.form == "sim"
            assert not paired[(item.scenario, item.index)].universalization


def test_150_items_by_default():
    assert subskills.DEFAULT_ITEMS == 150
    made = subskills.make_items(["fishery"])
    assert len(made) == 8 * 150 and {i.index for i in made} == set(range(150))


def test_seeding_reproduces_items():
    first = subskills.make_items(SCENARIOS, items=20, seed=7)
    assert first == subskills.make_items(SCENARIOS, items=20, seed=7)
    other = subskills.make_items(SCENARIOS, items=20, seed=8)
    assert [i.stock for i in first] != [i.stock for i in other]
    # a test's items do not depend on which other tests are drawn, and all scenarios share the numbers
    alone = subskills.make_items(["pasture"], items=20, seed=7, tests=["sim_consequence"])
    assert alone == [i for i in first if i.scenario == "pasture" and i.test == "sim_consequence"]
    numbers = {s: [(i.stock, i.amount) for i in first if i.scenario == s and i.test == "math_consequence"] for s in SCENARIOS}
    assert numbers["fishery"] == numbers["pasture"] == numbers["pollution"]
    assert len({i.stock for i in first if i.test == "sim_choose"}) > 1
    assert [i.stock for i in first if i.test == "sim_choose"] != [i.stock for i in first if i.test == "sim_consequence"]


def test_each_prompt_is_one_user_message(items):
    llm = replying(items, lambda i: "Answer: 1")
    asyncio.run(subskills.ask(llm, items[:5], subskills.Sampling()))
    assert all([m["role"] for m in r.messages] == ["user"] for r in llm.requests)
    assert llm.requests[0].messages[0]["content"] == items[0].prompt


def test_a_model_that_knows_the_answers_passes_all_and_one_that_does_not_fails_all():
    items = subskills.make_items(["fishery", "pasture"], items=10, seed=0)
    right = ask(items, lambda i: f"Let me see... Answer: {i.correct_answer} units.")
    table = subskills.accuracy_table(right)
    assert list(table["accuracy"]) == [1.0] * 16 and list(table["n"]) == [10] * 16
    assert (table["ci_low"] > 0.65).all() and list(table["ci_high"]) == pytest.approx([1.0] * 16)
    wrong = ask(items, lambda i: f"Answer: {i.correct_answer + 1}")
    assert subskills.accuracy_table(wrong)["accuracy"].sum() == 0
    record = right[0]
    assert {"prompt", "reply", "parsed", "correct_answer", "passed", "parse_failure", "test", "scenario"} <= set(record)
    assert record["prompt"] == items[0].prompt and record["parsed"] == items[0].correct_answer and record["passed"]


def test_choose_passes_within_the_threshold_only():
    items = subskills.make_items(["fishery"], items=30, seed=1, tests=["sim_choose", "sim_choose_universalization"])
    for offset, passes in ((0, True), (1, False)):
        assert all(r["passed"] is passes for r in ask(items, lambda i, offset=offset: f"Answer: {i.threshold + offset}"))
    assert not any(r["passed"] for r in ask(items, lambda i: "Answer: 0"))


def test_parse_failures_are_counted_reported_and_never_pass():
    items = subskills.make_items(["fishery"], items=6, seed=0)
    records = asyncio.run(subskills.ask(FakeLLM(["I would rather not say.", "Answer: 7"]), items, subskills.Sampling()))
    table = subskills.accuracy_table(records)
    assert table["parse_failures"].sum() == 24 and table["n"].sum() == 48 and list(table["parse_failures"]) == [3] * 8
    failed = [r for r in records if r["parse_failure"]]
    assert len(failed) == 24 and not any(r["passed"] for r in failed) and all(r["parsed"] is None for r in failed)
    assert "| fishery | sim_choose | 6 |" in subskills.to_markdown(table) and "| 3 |" in subskills.to_markdown(table)


def test_wilson_interval():
    assert subskills.wilson(0, 5) == (0.0, pytest.approx(0.4345, abs=1e-4))
    low, high = subskills.wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)


class PeakLLM(LLM):
    """Counts how many requests are in flight at once."""

    def __init__(self):
        self.in_flight = self.peak = 0

    async def complete(self, request):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        return Completion("Answer: 1", 1, 1, 0.0, "peak", "peak")


def test_all_items_are_in_flight_at_once():
    llm = PeakLLM()
    records = asyncio.run(subskills.run(LLMConfig(), ["fishery", "pasture"], items=3, llm=llm))
    assert len(records) == llm.peak == 2 * 8 * 3


def test_template_file_is_checked(tmp_path):
    good = subskills.TEMPLATE_FILE.read_text()

    def edited(old, new):
        assert old in good
        path = tmp_path / f"edit{len(list(tmp_path.iterdir()))}.yaml"
        path.write_text(good.replace(old, new, 1))
        return path

    cases = [
        (("sim_choose: {form: sim", "sim_choose: {form: chat"), r"tests\.sim_choose\.form"),
        (("sim_choose_universalization: {form: sim", "sim_choose_universalization: {form: math"), "needs form: sim"),
        (("  pasture:\n", "  pasture:\n    instruction: hi\n"), r"in scenarios\.pasture: unknown key 'instruction'"),
        (("names: [John, Kate, Jack, Emma, Luke]", "names: [John, Kate]"), "give 5 different names"),
    ]
    for (old, new), message in cases:
        with pytest.raises(ConfigError, match=message):
            subskills.templates(edited(old, new))
    typo = edited("Five {harvesters} {verb}", "Five {harvesterz} {verb}")
    with pytest.raises(ConfigError, match=r"description: unknown field\(s\) \['harvesterz'\]"):
        subskills.make_items(["fishery"], items=1, path=typo)
    with pytest.raises(ConfigError, match="subskill test 'sim_guess' is unknown"):
        subskills.make_items(["fishery"], items=1, tests=["sim_guess"])


def test_command_line(tmp_path):
    csv, details = tmp_path / "acc.csv", tmp_path / "details.jsonl"
    args = ["subskills", "--backend", "fake", "--items", "4", "--scenario", "all", "--csv", str(csv), "--details", str(details)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| pollution | sim_choose_universalization | 4 |" in result.output
    assert len(csv.read_text().splitlines()) == 1 + 3 * 8
    lines = details.read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 3 * 8 * 4
    assert {"prompt", "reply", "parsed", "correct_answer", "passed", "parse_failure", "test", "scenario", "stock"} <= set(first)
    assert first["reply"] == "Answer: 10" and first["parsed"] == 10
    default = CliRunner().invoke(app, ["subskills", "--backend", "fake", "--tests", "sim_choose"])
    assert default.exit_code == 0 and "| fishery | sim_choose | 150 |" in default.output
    bad = CliRunner().invoke(app, ["subskills", "--backend", "fake", "--scenario", "moon"])
    assert bad.exit_code == 2 and "unknown scenario 'moon'" in bad.output
    bad = CliRunner().invoke(app, ["subskills", "--backend", "fake", "--tests", "sim_guess"])
    assert bad.exit_code == 2 and "subskill test 'sim_guess' is unknown" in bad.output
    bad = CliRunner().invoke(app, ["subskills", "--backend", "fake", "--items", "0"])
    assert bad.exit_code == 2 and "--items must be >= 1" in bad.output
    assert first["adapter"] is None
    bad = CliRunner().invoke(app, ["subskills", "--backend", "fake", "--adapter", str(tmp_path)])
    assert bad.exit_code == 2 and "not a LoRA adapter folder (it has no adapter_config.json)" in bad.output


def test_an_adapter_is_asked_and_recorded(tmp_path):
    """--adapter: every request names the LoRA folder (a Re-ReST adapter on held-out items)."""
    adapter = tmp_path / "rerest"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    details = tmp_path / "details.jsonl"
    args = ["subskills", "--backend", "fake", "--items", "3", "--tests", "sim_choose", "--adapter", str(adapter),
            "--details", str(details)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["adapter"] for line in details.read_text().splitlines()] == [str(adapter)] * 3
