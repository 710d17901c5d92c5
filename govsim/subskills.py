"""Subskill tests: the paper's eight diagnostic tests, asked of a model directly.

Four questions, each about a stock h of the commons (five harvesters, capacity 100):

- ``consequence``: the stock next month if each harvester takes x: regen(h - 5x);
- ``shrinking_limit``: f(h), the most each may take without the stock shrinking;
- ``shrinking_limit_assumption``: the same with "everyone takes the same" stated;
- ``choose``: "how much will you take?", passing when 0 < answer <= f(h).

Each is asked in a no-persona ``math`` form and an in-simulation ``sim`` form (the full
rules, the location, the date and a memory block), and ``choose`` once more with the
universalization hint in the memories: eight tests, as in the reference
(subskills/<scenario>/run.py). Wording and the list of tests live in ``subskills.yaml``.

Items: for each test, item i draws a persona, a stock h in 10..100 and an amount x in
0..h/5 from ``numpy.random.default_rng([seed, crc32(test name)])``, so the same seed gives
the same items, a test's items do not depend on which other tests run, and every
scenario gets the same numbers. The reference draws from one global ``np.random`` stream
in test order; its exact numbers are not reproduced, their distribution is.

Reading a reply: the reference stops the model at the first "Answer:" (or "So, the answer
is:") and takes the first integer generated after it. Here the model writes freely and
the first integer after the first such marker is read ("The answer is" counts too: the
embedded model often writes it). A reply with none is a parse
failure: counted and reported next to the accuracy, and scored as not passing (the
reference turns an unreadable reply into 0 silently, which passes a consequence item
whose answer is 0). Every prompt is one user message, as in the reference.

Scores per scenario and test come with a 95 % Wilson interval (scipy). The reference
reports statsmodels' default, the normal approximation, whose width is 0 at 0 % and 100 %.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ValidationError, field_validator, model_validator

from govsim import scenarios, templating
from govsim.config import ConfigError, LLMConfig, deep_merge, describe_error, load_yaml
from govsim.dynamics import Regeneration, sustainability_threshold
from govsim.llm.base import LLM, Constraint, Request, Sampling
from govsim.report import wilson
from govsim.strict import Strict

TEMPLATE_FILE = Path(__file__).with_name("subskills.yaml")
DEFAULT_ITEMS = 150  # the reference's NUM_RUNS
HARVESTERS = 5
CAPACITY = 100
REGEN = Regeneration()  # doubling, the paper's rule
STOCK_RANGE = (10, 100)  # f(h) >= 1 throughout, so "0 < answer <= f(h)" can pass
MARKER = re.compile(r"answer\s*\**\s*:|the\s+answer\s+is", re.IGNORECASE)
ANSWER_ONLY = Constraint(regex=r"Answer: [0-9]{1,4}")


def threshold(stock: int) -> int:
    """f(h) for five harvesters: floor(floor(h/2)/5)."""
    return sustainability_threshold(stock, HARVESTERS, CAPACITY, REGEN)


def _exact(answer: int, correct: int) -> bool:
    return answer == correct


def _within(answer: int, correct: int) -> bool:
    return answer == 0 if correct == 0 else 0 < answer <= correct


# question -> (the correct answer from (stock, amount), whether an answer passes it)
QUESTIONS: dict[str, tuple[Callable[[int, int], int], Callable[[int, int], bool]]] = {
    "consequence": (lambda h, x: REGEN.next_stock(max(0, h - HARVESTERS * x), CAPACITY), _exact),
    "shrinking_limit": (lambda h, x: threshold(h), _exact),
    "shrinking_limit_assumption": (lambda h, x: threshold(h), _exact),
    "choose": (lambda h, x: threshold(h), _within),
}
QuestionName = Literal["consequence", "shrinking_limit", "shrinking_limit_assumption", "choose"]


class Questions(Strict, frozen=True):
    consequence: str
    shrinking_limit: str
    shrinking_limit_assumption: str
    choose: str


class Wording(Strict, frozen=True):
    """What a scenario may word its own way (``scenarios.<name>`` in the file)."""

    names: tuple[str, ...]
    rules: str
    description: str
    questions: Questions

    @field_validator("names")
    @classmethod
    def _five_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != HARVESTERS:
            raise ValueError(f"give {HARVESTERS} different names (the rules name the persona's four neighbours)")
        return names


class Subskill(Strict, frozen=True):
    form: Literal["math", "sim"]
    question: QuestionName
    universalization: bool = False
    reference: str | None = None  # the reference's name of the test

    @model_validator(mode="after")
    def _hint_needs_memories(self) -> Subskill:
        if self.universalization and self.form != "sim":
            raise ValueError("universalization puts the hint in the memories: it needs form: sim")
        return self


class Templates(Wording):
    instruction: str
    date: str
    math_prompt: str
    sim_prompt: str
    memory_line: str
    tests: dict[str, Subskill]
    scenarios: dict[str, dict[str, Any]] = {}

    def wording(self, scenario: str) -> Wording:
        """The shared wording with the scenario's replacements applied."""
        base = self.model_dump(include=set(Wording.model_fields))
        return Wording.model_validate(deep_merge(base, self.scenarios.get(scenario, {})))


@cache
def templates(path: str | Path = TEMPLATE_FILE) -> Templates:
    """The checked template file; every scenario's replacements are checked too."""
    data = load_yaml(path, f"subskills file {path}")
    try:
        loaded = Templates.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, Templates).replace("config: ", f"{path}: ", 1)) from None
    for name in loaded.scenarios:
        try:
            loaded.wording(name)
        except ValidationError as exc:
            raise ConfigError(describe_error(exc, Wording).replace("config: ", f"{path}: in scenarios.{name}: ", 1)) from None
    if not loaded.tests:
        raise ConfigError(f"{path}: 'tests' lists no test; give at least one, e.g. sim_choose: {{form: sim, question: choose}}")
    return loaded


@dataclass(frozen=True)
class Item:
    """One question put to the model, with its correct answer."""

    test: str
    form: str
    question: str
    universalization: bool
    scenario: str
    index: int
    name: str | None  # the persona (sim forms)
    stock: int
    amount: int | None  # what each harvester takes (consequence only)
    threshold: int
    correct_answer: int
    prompt: str

    def passes(self, answer: int) -> bool:
        return QUESTIONS[self.question][1](answer, self.correct_answer)

    def request(self, sampling: Sampling, constraint: Constraint | None) -> Request:
        return Request(
            messages=({"role": "user", "content": self.prompt},),
            sampling=sampling,
            constraint=constraint,
            tags=(("purpose", "subskill"), ("subskill", self.test), ("scenario", self.scenario), ("index", self.index)),
        )


def draws(seed: int, test: str, count: int) -> list[tuple[int, int, int]]:
    """(persona index, stock, amount) for each of a test's items."""
    rng = np.random.default_rng([seed, zlib.crc32(test.encode())])
    personas = rng.integers(0, HARVESTERS, size=count)
    stocks = rng.integers(STOCK_RANGE[0], STOCK_RANGE[1] + 1, size=count)
    amounts = [int(rng.integers(0, s // HARVESTERS + 1)) for s in stocks]
    return [(int(p), int(s), a) for p, s, a in zip(personas, stocks, amounts)]


def make_items(
    scenario_names: Iterable[str],
    items: int = DEFAULT_ITEMS,
    seed: int = 0,
    tests: Iterable[str] | None = None,
    path: str | Path = TEMPLATE_FILE,
) -> list[Item]:
    """``items`` items per test and scenario."""
    if items < 1:
        raise ConfigError(f"items must be >= 1, got {items}")
    data = templates(path)
    chosen = list(tests or data.tests)
    unknown = [t for t in chosen if t not in data.tests]
    if unknown:
        raise ConfigError(f"subskill test {unknown[0]!r} is unknown; known: {', '.join(data.tests)}")
    out = []
    for scenario_name in scenario_names:
        scenario = scenarios.load(scenario_name)
        wording = data.wording(scenario.name)
        for test in chosen:
            spec = data.tests[test]
            for index, (persona, stock, amount) in enumerate(draws(seed, test, items)):
                name = wording.names[persona] if spec.form == "sim" else None
                out.append(
                    Item(
                        test, spec.form, spec.question, spec.universalization, scenario.name, index, name, stock,
                        amount if spec.question == "consequence" else None, threshold(stock),
                        QUESTIONS[spec.question][0](stock, amount),
                        _prompt(data, wording, scenario, spec, name, stock, amount),
                    )
                )
    return out


def _prompt(
    data: Templates, wording: Wording, scenario: scenarios.Scenario, spec: Subskill, name: str | None, stock: int, amount: int
) -> str:
    """One item's prompt: the math form (description, question) or the sim form (rules,
    location, date, memories, task)."""
    fields = {
        **scenario.vocabulary.model_dump(), "name": name, "stock": stock, "amount": amount, "capacity": CAPACITY,
        "others": ", ".join(n for n in wording.names if n != name),
    }
    parts = {
        "question": _fill(getattr(wording.questions, spec.question), fields, f"questions.{spec.question}"),
        "instruction": _fill(data.instruction, fields, "instruction"),
    }
    if spec.form == "math":
        return _fill(data.math_prompt, {**parts, "description": _fill(wording.description, fields, "description")}, "math_prompt")
    memories = [scenario.say("stock_before_harvest", stock=stock)]
    if spec.universalization:
        memories.append(scenario.say("universalization_hint", threshold=threshold(stock)))
    lines = "\n".join(_fill(data.memory_line, {"date": data.date, "text": m}, "memory_line") for m in memories)
    parts.update(rules=_fill(wording.rules, fields, "rules"), date=data.date, memories=lines)
    return _fill(data.sim_prompt, {**fields, **parts}, "sim_prompt")


def _fill(template: str, fields: dict[str, Any], where: str) -> str:
    try:
        templating.check(template, f"subskills template {where}", fields)
    except templating.TemplateError as exc:
        raise ConfigError(str(exc)) from None
    return template.format(**fields)


def parse_answer(text: str) -> int | None:
    """The first integer after the first answer marker ("Answer:", "**Answer**:", "So, the
    answer is", "The answer is"), or None. "Answer: 8.6" reads 8, as the reference's
    digits-only read does."""
    marker = MARKER.search(text or "")
    number = re.search(r"\d+", text[marker.end():]) if marker else None
    return int(number.group()) if number else None


async def ask(llm: LLM, items: list[Item], sampling: Sampling, constrain: bool = False) -> list[dict[str, Any]]:
    """Send every item at once; one record per item: the item, the reply, what was read, the score."""
    constraint = ANSWER_ONLY if constrain and llm.supports_constraints else None
    completions = await asyncio.gather(*(llm.complete(item.request(sampling, constraint)) for item in items))
    records = []
    for item, completion in zip(items, completions):
        parsed = parse_answer(completion.text)
        records.append(
            {
                **asdict(item),
                "reply": completion.text,
                "parsed": parsed,
                "parse_failure": parsed is None,
                "passed": parsed is not None and item.passes(parsed),
            }
        )
    return records


def accuracy_table(records: list[dict[str, Any]], by: tuple[str, ...] = ("scenario", "test")) -> pd.DataFrame:
    """Per group: items, passed, accuracy with its Wilson 95 % CI, parse failures (which
    count as not passing)."""
    rows = []
    for key, group in pd.DataFrame(records).groupby(list(by), sort=False):
        passed, total = int(group["passed"].sum()), len(group)
        low, high = wilson(passed, total)
        rows.append(
            {
                **dict(zip(by, key)), "n": total, "passed": passed, "accuracy": passed / total,
                "ci_low": low, "ci_high": high, "parse_failures": int(group["parse_failure"].sum()),
            }
        )
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    """The accuracy table, one row per scenario and test."""
    lines = ["| scenario | test | n | accuracy (95 % CI) | parse failures |", "|---|---|---|---|---|"]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.scenario} | {row.test} | {row.n} | {row.accuracy:.0%} ({row.ci_low:.0%}-{row.ci_high:.0%}) "
            f"| {row.parse_failures} |"
        )
    return "\n".join(lines)


async def run(
    llm_config: LLMConfig,
    scenario_names: Iterable[str],
    items: int = DEFAULT_ITEMS,
    seed: int = 0,
    constrain: bool = False,
    tests: Iterable[str] | None = None,
    llm: LLM | None = None,
) -> list[dict[str, Any]]:
    """Build the model from ``llm_config`` (or use ``llm``), ask every item, return the records
    (each with the ``adapter`` asked: ``llm_config.adapter``)."""
    questions = make_items(scenario_names, items, seed, tests)
    sampling = Sampling(temperature=llm_config.temperature, top_p=llm_config.top_p, max_tokens=llm_config.max_tokens)
    if llm is not None:
        records = await ask(llm, questions, sampling, constrain)
    else:
        from govsim.llm.pool import LLMPool

        pool = LLMPool(llm_config, seed=seed)
        try:
            records = await ask(pool.get(), questions, sampling, constrain)
        finally:
            await pool.aclose()
    return [{**r, "adapter": llm_config.adapter} for r in records]
