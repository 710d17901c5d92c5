"""Which memories come to mind for a few focal points, as the reference GovSim scores them.

Candidates are the live memories in the order they were stored (oldest first). For each
focal point (its embedding ``q``) memory number ``i`` scores

    0.5 * 0.99**i + 3 * (importance - 1) / 9 + 2 * cos(embedding, q)

(simulation/persona/cognition/retrieve.py); memories flagged ``always_relevant`` score the
best other score plus one, so they come first, in stored order, but still count against
the focal point's ``k``. The best ``k`` per focal point are pooled and listed by date,
oldest first.

Two reference bugs shape the paper's numbers and are kept under the paper profile:

- **recency inverted**: ``i`` counts from the oldest candidate, so the OLDEST memory gets
  the largest recency term. ``Scoring.fixed_recency`` (``opts.fixed_recency``) counts
  from the newest instead.
- **chats never retrieved**: the reference leaves conversation memories out of the
  candidates (associative_memory.get_nodes_for_retrieval). ``Scoring.retrievable_chats``
  lets them in.

``Scoring.normalised`` (``opts.normalised_retrieval``) min-max normalises each of the three
terms over the candidates before weighting (all-equal terms become 0), govsim's former
formula.

Deviation (documented): the reference pools the focal points' memories through an
unordered set, so memories of the same date come in a different order from run to run.
Here ties in score keep stored order and the pooled list is sorted by (date, stored
order): the same memories always come in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from agents.generative.memory import Memory

RECENCY, IMPORTANCE, RELEVANCE = 0.5, 3.0, 2.0
DECAY = 0.99


@dataclass(frozen=True)
class Scoring:
    fixed_recency: bool = False
    retrievable_chats: bool = False
    normalised: bool = False

    @classmethod
    def of(cls, opts) -> Scoring:
        """From a config's resolved improvements (``config.opts``)."""
        return cls(opts.fixed_recency, opts.retrievable_chats, opts.normalised_retrieval)


def normalise(values: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; all-equal values carry no preference and become 0."""
    if values.size == 0:
        return values
    span = float(values.max() - values.min())
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def candidates(memories: Sequence[Memory], now: datetime, scoring: Scoring = Scoring()) -> list[Memory]:
    """The memories retrieval may pick from: live ones, chats only if retrievable; stored order."""
    return [m for m in memories if m.live(now) and (scoring.retrievable_chats or m.kind != "chat")]


def scores(pool: Sequence[Memory], query: np.ndarray, scoring: Scoring = Scoring()) -> np.ndarray:
    """Each candidate's score for one focal point, before the always-relevant boost."""
    if not pool:
        return np.zeros(0)
    index = np.arange(len(pool), dtype=np.float64)
    recency = DECAY ** (index[::-1] if scoring.fixed_recency else index)
    importance = (np.array([m.importance for m in pool], dtype=np.float64) - 1) / 9
    relevance = np.stack([m.embedding for m in pool]).astype(np.float64) @ np.asarray(query, dtype=np.float64)
    if scoring.normalised:
        recency, importance, relevance = normalise(recency), normalise(importance), normalise(relevance)
    return RECENCY * recency + IMPORTANCE * importance + RELEVANCE * relevance


def top(pool: Sequence[Memory], query: np.ndarray, k: int, scoring: Scoring = Scoring()) -> list[Memory]:
    """The best k candidates for one focal point, always-relevant ones first."""
    if not pool or k <= 0:
        return []
    s = scores(pool, query, scoring)
    s = np.where([m.always_relevant for m in pool], s.max() + 1, s)
    order = sorted(range(len(pool)), key=lambda i: -s[i])  # stable: equals keep stored order
    return [pool[i] for i in order[:k]]


def retrieve(
    memories: Sequence[Memory],
    queries: Sequence[np.ndarray],
    now: datetime,
    k: int,
    scoring: Scoring = Scoring(),
) -> list[Memory]:
    """The best k for each focal point, pooled, each once, by date (oldest first)."""
    pool = candidates(memories, now, scoring)
    picked = {m.id: m for q in queries for m in top(pool, q, k, scoring)}
    return sorted(picked.values(), key=lambda m: (m.created, m.id))
