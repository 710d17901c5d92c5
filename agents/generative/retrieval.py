"""Which memories come to mind: recency, importance and relevance, as in Park et al. 2023.

score = 0.5 * recency + 3 * importance + 2 * relevance, each min-max normalised over the
candidates to [0, 1]. Recency is ``decay ** age`` with age in ticks of the agent's clock,
so the NEWEST memory scores highest (the reference implementation has this inverted).
Every kind is a candidate, chats included (the reference drops them). Live memories
flagged ``always_relevant`` (agreed limits) are always recalled, on top of the best others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from agents.generative.memory import Memory


@dataclass(frozen=True)
class Weights:
    recency: float = 0.5
    importance: float = 3.0
    relevance: float = 2.0
    decay: float = 0.99  # recency factor per tick of age


def normalise(values: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; all-equal values carry no preference and become 0."""
    if values.size == 0:
        return values
    span = float(values.max() - values.min())
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def scores(memories: Sequence[Memory], query: np.ndarray, now: int, weights: Weights = Weights()) -> np.ndarray:
    """The retrieval score of each memory for a query embedding (unit vector)."""
    if not memories:
        return np.zeros(0)
    age = np.array([now - m.created for m in memories], dtype=np.float64)
    recency = weights.decay**age
    importance = np.array([m.importance for m in memories], dtype=np.float64)
    relevance = np.stack([m.embedding for m in memories]).astype(np.float64) @ np.asarray(query, dtype=np.float64)
    return (
        weights.recency * normalise(recency)
        + weights.importance * normalise(importance)
        + weights.relevance * normalise(relevance)
    )


def retrieve(
    memories: Sequence[Memory], query: np.ndarray, now: int, k: int = 10, weights: Weights = Weights()
) -> list[Memory]:
    """The always-relevant memories plus the best-scoring others, up to k in all, oldest first.

    Always-relevant memories are kept even when there are more than k of them.
    """
    live = [m for m in memories if not m.expired(now)]
    always = [m for m in live if m.always_relevant]
    others = [m for m in live if not m.always_relevant]
    room = max(0, k - len(always))
    chosen: list[Memory] = []
    if room and others:
        s = scores(others, query, now, weights)
        # best score first; among equals the newer memory wins
        order = sorted(range(len(others)), key=lambda i: (-s[i], -others[i].id))
        chosen = [others[i] for i in order[:room]]
    return sorted(always + chosen, key=lambda m: m.id)
