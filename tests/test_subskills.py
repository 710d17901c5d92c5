"""Subskill tests: questions from data, answers from the dynamics, batched asking, scoring."""

import asyncio
import json

import pytest
from typer.testing import CliRunner

from govsim import subskills
from govsim.cli import app
from govsim.config import ConfigError, LLMConfig
from govsim.llm.base import LLM, Completion
from govsim.llm.fake import FakeLLM

SUBSKILLS = ["simulation", "sustainable_harvest", "sustainable_harvest_assumption", "choose_harvest"]


def by_tags(questions):
    return {(q.subskill, q.scenario, q.index): q for q in questions}


def replying(questions, answer):
    """A fake model that answers ``answer(question)`` for each question it is asked."""
    table = by_tags(questions)
    return FakeLLM(lambda r: answer(table[(r.tag_dict["subskill"], r.tag_dict["scenario"], r.tag_dict["index"])]))


def test_questions_come_from_the_templates_with_answers_from_the_dynamics():
    questions = subskills.make_questions(["fishery", "pasture", "pollution"], n=20, seed=3)
    assert len(questions) == 3 * 4 * 20
    assert questions == subskills.make_questions(["fishery", "pasture", "pollution"], n=20, seed=3)
    for q in questions:
        assert 10 <= q.stock <= 100 and "{" not in q.text + q.system
        assert q.threshold == (q.stock // 2) // 5  # f(h) = floor(floor(h/2)/5)
        if q.subskill == "simulation":
            assert q.expected == min(100, 2 * (q.stock - 5 * q.amount)) and 0 <= 5 * q.amount <= q.stock
        else:
            assert q.expected == q.threshold
    fishery = [q for q in questions if q.scenario == "fishery" and q.index == 0]
    assert [q.subskill for q in fishery] == SUBSKILLS
    assert f"holds {fishery[0].stock} tons of fish" in fishery[0].text and f"takes {fishery[0].amount} tons" in fishery[0].text
    assert "Assume that every fisherman takes the same amount" in fishery[2].text
    assert "Assume" not in fishery[1].text
    pollution = [q for q in questions if q.scenario == "pollution" and q.index == 0]
    assert f"{pollution[0].stock}% unpolluted" in pollution[0].text and "widgets" in pollution[3].text
    stocks = {q.stock for q in questions if q.subskill == "simulation" and q.scenario == "pasture"}
    assert len(stocks) > 5  # random stocks, not one repeated


def test_a_model_that_knows_the_answers_scores_100_and_one_that_does_not_scores_0():
    questions = subskills.make_questions(["fishery", "pasture"], n=10, seed=0)
    right = asyncio.run(subskills.ask(replying(questions, lambda q: f"So... Answer: {q.expected} tons."), questions, subskills.Sampling()))
    table = subskills.accuracy_table(right)
    assert list(table["accuracy"]) == [1.0] * 8 and list(table["n"]) == [10] * 8
    assert (table["ci_low"] > 0.65).all() and list(table["ci_high"]) == pytest.approx([1.0] * 8)
    wrong = asyncio.run(subskills.ask(replying(questions, lambda q: f"Answer: {q.expected + 1}"), questions, subskills.Sampling()))
    assert subskills.accuracy_table(wrong)["accuracy"].sum() == 0


def test_choose_harvest_passes_within_the_threshold_only():
    questions = subskills.make_questions(["fishery"], n=30, seed=1, subskills=["choose_harvest"])
    for offset, passes in ((0, True), (1, False)):
        records = asyncio.run(
            subskills.ask(replying(questions, lambda q: f"Answer: {q.threshold + offset}"), questions, subskills.Sampling())
        )
        assert all(r["correct"] is passes for r in records)
    zero = asyncio.run(subskills.ask(FakeLLM(["Answer: 0"]), questions, subskills.Sampling()))
    assert not any(r["correct"] for r in zero)


def test_parse_failures_are_counted_and_scored_wrong():
    questions = subskills.make_questions(["fishery"], n=6, seed=0)
    records = asyncio.run(subskills.ask(FakeLLM(["I would rather not say.", "Answer: 7"]), questions, subskills.Sampling()))
    table = subskills.accuracy_table(records)
    assert table["parse_failures"].sum() == 12 and table["n"].sum() == 24
    failed = [r for r in records if r["parse_failure"]]
    assert failed and not any(r["correct"] for r in failed) and all(r["answer"] is None for r in failed)


@pytest.mark.parametrize(
    "text, number",
    [("Answer: 12 tons.", 12), ("answer = 7", 7), ("**Answer:** 15", 15), ("Answer: 8.6", 8),
     ("first Answer: 3, then Answer: 5", 5), ("twelve", None), ("", None)],
)
def test_parse_answer(text, number):
    assert subskills.parse_answer(text) == number


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


def test_all_questions_are_in_flight_at_once():
    llm = PeakLLM()
    records = asyncio.run(subskills.run(LLMConfig(), ["fishery", "pasture"], n=5, llm=llm))
    assert len(records) == llm.peak == 40


def test_templates_are_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: x\nanswer_format: y\nsubskills:\n  guess: {question: 'How many?', scoring: vibes}\n")
    with pytest.raises(ConfigError, match="scoring: one of next_stock, threshold, within_threshold"):
        subskills.templates(bad)
    field = tmp_path / "field.yaml"
    field.write_text("system: x\nanswer_format: y\nsubskills:\n  s: {question: 'Stock {stok}?', scoring: threshold}\n")
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['stok'\]"):
        subskills.make_questions(["fishery"], n=1, path=field)


def test_command_line(tmp_path):
    csv, details = tmp_path / "acc.csv", tmp_path / "details.jsonl"
    args = ["subskills", "--backend", "fake", "--n", "4", "--scenario", "all", "--csv", str(csv), "--details", str(details)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| pollution | choose_harvest | 4 |" in result.output
    assert len(csv.read_text().splitlines()) == 1 + 12
    first = json.loads(details.read_text().splitlines()[0])
    assert {"subskill", "scenario", "stock", "expected", "reply", "answer", "correct", "parse_failure"} <= set(first)
    bad = CliRunner().invoke(app, ["subskills", "--backend", "fake", "--scenario", "moon"])
    assert bad.exit_code == 2 and "unknown scenario 'moon'" in bad.output
