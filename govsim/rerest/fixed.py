"""The fixed-input evaluation: every method answers the same held-out prompts.

The prompts are the harvest decisions of the base model's episodes on the evaluation
seeds (``eval_base``), the same for every method and iteration, so a change in the pass
rate is the adapter's and not a change of months, stocks or memories. Each prompt gets
``sampling.k`` replies at the sampling temperature and one greedy reply (temperature 0,
how the paper profile's agents decide), drawn and read the agent's way (``reply``).

Prompts are distinct: episodes on different seeds can reach the same prompt word for
word (on the paper profile every seed's month 1 reads the same), and a copy is no new
evidence (its greedy reply is the same reply), so copies are kept once (``distinct``;
with ``prompt_keys``, a summary of an older run made with copies counts only the first
copy's replies, sampled and greedy).

Per method: the pass rate of the sampled and of the greedy replies with n and Wilson's
95 % interval (``govsim.report.wilson``: scipy's binomtest, method "wilson"; the k
samples of one prompt are not independent, so the sampled interval is a little too
narrow), the check outcomes (``kinds``) and the distribution of the amounts asked.
Against the base model, on the greedy replies (one per distinct prompt, paired): how many
differ in text (the adapter was applied), how many prompts the method passes where the
base failed and the reverse, and the exact McNemar p-value of that split.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from agents.generative.harvest import digits_constraint
from govsim.llm.base import LLM
from govsim.report import wilson
from govsim.rerest.config import SamplingSpec
from govsim.rerest.decisions import Decision
from govsim.rerest.reply import Item, Reader, ask
from govsim.rerest.sample import kinds, sampling_of, scored_row
from govsim.rerest.texts import Texts

GREEDY = "greedy"


async def answer(
    llm: LLM, decisions: Sequence[Decision], spec: SamplingSpec, adapter: str | None, texts: Texts,
    reader: Reader, budget: int, progress: bool = True,
) -> list[dict[str, Any]]:
    """k sampled replies and one greedy reply per prompt, scored (rows tagged ``k`` or ``greedy``)."""

    def items(k: int | str) -> list[Item]:
        return [
            Item(d.messages, digits_constraint(d.state.capacity), (("purpose", "rerest_eval"), ("decision", d.id), ("k", k)))
            for d in decisions
        ]

    sampled_items, greedy_items = [i for k in range(spec.k) for i in items(k)], items(GREEDY)
    sampled, greedy = await asyncio.gather(  # one batch: rows keep their own temperature
        ask(llm, sampled_items, sampling_of(spec, budget), adapter, "fixed inputs", progress),
        ask(llm, greedy_items, sampling_of(spec, budget, temperature=0.0), adapter, "fixed inputs, greedy", progress),
    )
    by_id = {d.id: d for d in decisions}
    rows = []
    for its, replies in ((sampled_items, sampled), (greedy_items, greedy)):
        for item, reply in zip(its, replies):
            tags = dict(item.tags)
            rows.append(scored_row(by_id[tags["decision"]], reply.text, texts, reader, k=tags["k"], adapter=adapter))
    return rows


def prompt_key(decision: Decision) -> str:
    return json.dumps(decision.messages, sort_keys=True)


def prompt_keys(decisions: Iterable[Decision]) -> dict[str, str]:
    """Decision id -> its prompt, for telling copies of one prompt apart from other prompts."""
    return {d.id: prompt_key(d) for d in decisions}


def distinct(decisions: Iterable[Decision]) -> list[Decision]:
    """The decisions with a prompt of their own: each copy of an earlier one's prompt left out."""
    seen: dict[str, Decision] = {}
    for d in decisions:
        seen.setdefault(prompt_key(d), d)
    return list(seen.values())


def _first_copies(rows: Sequence[dict[str, Any]], keys: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """The rows of the first decision with each prompt (all rows without ``keys``)."""
    if not keys:
        return list(rows)
    first: dict[str, str] = {}
    for r in rows:
        first.setdefault(keys[r["decision"]], r["decision"])
    kept = set(first.values())
    return [r for r in rows if r["decision"] in kept]


def _greedy(rows: Sequence[dict[str, Any]], keys: Mapping[str, str] | None) -> dict[str, dict[str, Any]]:
    """The greedy row of each distinct prompt (the first decision's), by prompt."""
    return {keys[r["decision"]] if keys else r["decision"]: r for r in _first_copies(rows, keys) if r["k"] == GREEDY}


def rate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Passed of n, the rate and its Wilson 95 % interval."""
    n, passed = len(rows), sum(bool(r["passed"]) for r in rows)
    low, high = wilson(passed, n) if n else (None, None)
    return {"n": n, "passed": passed, "rate": passed / n if n else None, "low": low, "high": high}


def amounts(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How often each amount was asked ("none": no amount read), and its quartiles."""
    asked = [r["amount"] for r in rows if r["amount"] is not None]
    counts = {str(a): n for a, n in sorted(Counter(asked).items())}
    if len(asked) < len(rows):
        counts["none"] = len(rows) - len(asked)
    quartiles = [float(q) for q in np.percentile(asked, [25, 50, 75])] if asked else None
    return {"counts": counts, "quartiles": quartiles}


def paired(
    rows: Sequence[dict[str, Any]], base: Sequence[dict[str, Any]], keys: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Greedy replies against the base model's on the same distinct prompts."""
    mine, theirs = _greedy(rows, keys), _greedy(base, keys)
    common = sorted(set(mine) & set(theirs))
    gained = sum(mine[d]["passed"] and not theirs[d]["passed"] for d in common)
    lost = sum(theirs[d]["passed"] and not mine[d]["passed"] for d in common)
    p = float(stats.binomtest(gained, gained + lost).pvalue) if gained + lost else None
    return {
        "compared": len(common), "differ": sum(mine[d]["text"] != theirs[d]["text"] for d in common),
        "gained": gained, "lost": lost, "p": p,
    }


def summarize(
    rows: Sequence[dict[str, Any]], base: Sequence[dict[str, Any]] | None = None, keys: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The stage record of one method's fixed-input evaluation. ``keys`` (``prompt_keys``):
    copies of one prompt count once (only the first decision's replies are counted)."""
    counted = _first_copies(rows, keys)
    sampled = [r for r in counted if r["k"] != GREEDY]
    out = {
        "prompts": len(_greedy(counted, keys)),
        "sampled": rate(sampled),
        "greedy": rate(list(_greedy(counted, keys).values())),
        "kinds": kinds(sampled),
        "amounts": amounts(sampled),
    }
    if base is not None:
        out["vs_base"] = paired(rows, base, keys)
    return out
