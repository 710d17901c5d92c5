"""Subskill tests: the paper's diagnostic questions, asked of a model directly.

Each question puts a random stock h (10 to 100, from a seeded RNG) in a scenario's words
and asks for one number. The right answer comes from ``govsim.dynamics``:

- ``next_stock``: the stock next month if each of n harvesters takes x (x random in
  [0, h/n]): regen(h - n*x);
- ``threshold``: f(h), the largest per-person harvest that keeps the stock from shrinking
  (asked once plainly, once with the equal-shares assumption stated);
- ``within_threshold``: "how much will you take?", passing when 0 < answer <= f(h).

The wording lives in ``subskills.yaml`` (a ``subskills`` section: question template and
scorer per subskill), not here. All questions are sent at once, so a batching backend
answers them together. A reply without a parseable ``Answer: N`` is a parse failure:
counted, and scored wrong. Accuracy per subskill comes with a 95 % Wilson interval.
"""

from __future__ import annotations

import asyncio
import math
import re
import string
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import yaml

from govsim import scenarios
from govsim.config import ConfigError, LLMConfig, deep_merge
from govsim.dynamics import Regeneration, sustainability_threshold
from govsim.llm.base import LLM, Constraint, Request, Sampling

TEMPLATE_FILE = Path(__file__).with_name("subskills.yaml")
STOCK_RANGE = (10, 100)  # f(h) >= 1 for every stock in range, so "0 < answer <= f(h)" can pass
_ANSWER = re.compile(r"answer\s*[:=]?\s*\**\s*(-?\d+(?:[.,]\d+)?)", re.I)
ANSWER_ONLY = Constraint(regex=r"Answer: [0-9]{1,4}")


@dataclass(frozen=True)
class World:
    """The numbers every question shares (the paper's defaults)."""

    n: int = 5
    capacity: int = 100
    collapse: int = 5
    regen: Regeneration = Regeneration()

    def threshold(self, stock: int) -> int:
        return sustainability_threshold(stock, self.n, self.capacity, self.regen)


def _exact(answer: int, expected: int) -> bool:
    return answer == expected


# scorer -> (the expected number from (stock, amount, world), whether an answer passes it)
SCORERS: dict[str, tuple[Callable[[int, int, World], int], Callable[[int, int], bool]]] = {
    "next_stock": (lambda h, x, world: world.regen.next_stock(h - world.n * x, world.capacity), _exact),
    "threshold": (lambda h, x, world: world.threshold(h), _exact),
    "within_threshold": (lambda h, x, world: world.threshold(h), lambda answer, f: 0 < answer <= f),
}


@dataclass(frozen=True)
class Question:
    subskill: str
    scoring: str  # a key of SCORERS
    scenario: str
    index: int
    stock: int
    amount: int
    expected: int
    threshold: int
    system: str
    text: str

    def request(self, sampling: Sampling, constraint: Constraint | None) -> Request:
        return Request(
            messages=({"role": "system", "content": self.system}, {"role": "user", "content": self.text}),
            sampling=sampling,
            constraint=constraint,
            tags=(("purpose", "subskill"), ("subskill", self.subskill), ("scenario", self.scenario), ("index", self.index)),
        )


@lru_cache(maxsize=None)
def templates(path: str | Path = TEMPLATE_FILE) -> dict[str, Any]:
    """The question templates, checked: ``system``, ``answer_format``, ``subskills`` and
    optional per-scenario replacements under ``scenarios.<name>``."""
    data = yaml.safe_load(Path(path).read_text())
    subskills = data.get("subskills") if isinstance(data, dict) else None
    if not isinstance(subskills, dict) or not subskills:
        raise ConfigError(f"{path}: needs a 'subskills' mapping of name -> {{scoring, question}}")
    for name, item in subskills.items():
        if not isinstance(item, dict) or item.get("scoring") not in SCORERS or not item.get("question"):
            raise ConfigError(f"{path}: subskills.{name} needs a question and scoring: one of {', '.join(SCORERS)}")
    for scenario, over in (data.get("scenarios") or {}).items():
        strangers = set(over.get("subskills") or {}) - set(subskills)
        if set(over) - {"system", "answer_format", "subskills"} or strangers:
            raise ConfigError(f"{path}: scenarios.{scenario} may replace system, answer_format and known subskills only")
    return data


def for_scenario(data: dict[str, Any], scenario: str) -> dict[str, Any]:
    """The templates with a scenario's replacements applied."""
    return deep_merge({k: v for k, v in data.items() if k != "scenarios"}, (data.get("scenarios") or {}).get(scenario, {}))


def make_questions(
    scenario_names: Iterable[str],
    n: int = 20,
    seed: int = 0,
    world: World = World(),
    subskills: Iterable[str] | None = None,
    path: str | Path = TEMPLATE_FILE,
) -> list[Question]:
    """``n`` questions per subskill and scenario; item i uses the same stock everywhere."""
    data = templates(path)
    chosen = list(subskills or data["subskills"])
    unknown = [s for s in chosen if s not in data["subskills"]]
    if unknown:
        raise ConfigError(f"subskill {unknown[0]!r} is unknown; known: {', '.join(data['subskills'])}")
    rng = np.random.default_rng(seed)
    stocks = rng.integers(STOCK_RANGE[0], STOCK_RANGE[1] + 1, size=n)
    amounts = [int(rng.integers(0, s // world.n + 1)) for s in stocks]
    questions = []
    for name in scenario_names:
        scenario = scenarios.load(name)
        wording = for_scenario(data, scenario.name)
        for index, (stock, amount) in enumerate(zip(map(int, stocks), amounts)):
            fields = {
                **scenario.vocabulary.model_dump(), "stock": stock, "amount": amount, "n": world.n,
                "others_count": world.n - 1, "capacity": world.capacity, "collapse": world.collapse,
            }
            system = _fill(wording["system"], fields, "system")
            for subskill in chosen:
                item = wording["subskills"][subskill]
                answer_format = _fill(item.get("answer_format", wording["answer_format"]), fields, "answer_format")
                text = " ".join(filter(None, [_fill(item["question"], fields, subskill), answer_format]))
                expected = SCORERS[item["scoring"]][0](stock, amount, world)
                questions.append(
                    Question(subskill, item["scoring"], scenario.name, index, stock, amount, expected, world.threshold(stock), system, text)
                )
    return questions


def _fill(template: str, fields: dict[str, Any], where: str) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        names = sorted({f for _, f, _, _ in string.Formatter().parse(template) if f} - set(fields))
        raise ConfigError(f"subskills template {where}: unknown field(s) {names or exc}; allowed: {', '.join(sorted(fields))}") from None


def parse_answer(text: str) -> int | None:
    """The number after the last 'Answer:' (a decimal is floored), or None."""
    found = _ANSWER.findall(text or "")
    if not found:
        return None
    return int(math.floor(float(found[-1].replace(",", "."))))


async def ask(llm: LLM, questions: list[Question], sampling: Sampling, constrain: bool = False) -> list[dict[str, Any]]:
    """Send every question at once; one record per question with the reply and its score."""
    constraint = ANSWER_ONLY if constrain and llm.supports_constraints else None
    completions = await asyncio.gather(*(llm.complete(q.request(sampling, constraint)) for q in questions))
    records = []
    for q, c in zip(questions, completions):
        answer = parse_answer(c.text)
        records.append(
            {
                **{k: v for k, v in asdict(q).items() if k not in ("system", "text")},
                "question": q.text,
                "reply": c.text,
                "answer": answer,
                "parse_failure": answer is None,
                "correct": answer is not None and SCORERS[q.scoring][1](answer, q.expected),
            }
        )
    return records


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default); (nan, nan) with no trials."""
    if trials == 0:
        return math.nan, math.nan
    p = successes / trials
    denominator = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def accuracy_table(records: list[dict[str, Any]], by: tuple[str, ...] = ("scenario", "subskill")) -> pd.DataFrame:
    """Per group: questions, correct, accuracy with its Wilson 95 % CI, parse failures."""
    frame = pd.DataFrame(records)
    rows = []
    for key, group in frame.groupby(list(by), sort=False):
        correct, total = int(group["correct"].sum()), len(group)
        low, high = wilson(correct, total)
        rows.append(
            {
                **dict(zip(by, key)), "n": total, "correct": correct, "accuracy": correct / total,
                "ci_low": low, "ci_high": high, "parse_failures": int(group["parse_failure"].sum()),
            }
        )
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    """The accuracy table, one row per scenario and subskill."""
    lines = ["| scenario | subskill | n | accuracy (95 % CI) | parse failures |", "|---|---|---|---|---|"]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.scenario} | {row.subskill} | {row.n} | {row.accuracy:.0%} ({row.ci_low:.0%}-{row.ci_high:.0%}) "
            f"| {row.parse_failures} |"
        )
    return "\n".join(lines)


async def run(
    llm_config: LLMConfig,
    scenario_names: Iterable[str],
    n: int = 20,
    seed: int = 0,
    constrain: bool = False,
    llm: LLM | None = None,
) -> list[dict[str, Any]]:
    """Build the model from ``llm_config`` (or use ``llm``), ask every question, return the records."""
    questions = make_questions(scenario_names, n, seed)
    sampling = Sampling(temperature=llm_config.temperature, top_p=llm_config.top_p, max_tokens=llm_config.max_tokens)
    if llm is not None:
        return await ask(llm, questions, sampling, constrain)
    from govsim.llm.pool import LLMPool

    pool = LLMPool(llm_config, seed=seed)
    try:
        return await ask(pool.get(), questions, sampling, constrain)
    finally:
        await pool.aclose()
