"""Commons dynamics: stock, regeneration, allocation and the sustainability threshold.

Pure functions and one small state object. No I/O, no LLM, no agents: everything here can
be checked by hand. Stocks and harvests are whole units (tons, hectares, % of water).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from govsim.strict import Strict

RegenRule = Literal["doubling", "logistic", "stochastic"]
AllocationRule = Literal["stochastic", "proportional"]


class Regeneration(Strict, frozen=True):
    """How the stock grows back at the end of a month (the run config's ``regeneration``).

    - ``doubling``: h <- min(C, factor * h), factor 2 by default (the paper's rule).
    - ``logistic``: h <- min(C, h + rate * h * (1 - h / C)).
    - ``stochastic``: h <- min(C, u * h) with u ~ U[low, high] drawn from the run's RNG.
    """

    rule: RegenRule = "doubling"
    factor: float = Field(2.0, gt=0)
    rate: float = Field(1.0, gt=0)
    low: float = Field(1.0, ge=0)
    high: float = Field(3.0, gt=0)

    def expected_factor(self) -> float:
        return (self.low + self.high) / 2 if self.rule == "stochastic" else self.factor

    def next_stock(self, stock: int, capacity: int, rng: np.random.Generator | None = None) -> int:
        """The stock after regeneration (floored to whole units, capped at capacity)."""
        if self.rule == "doubling":
            grown = self.factor * stock
        elif self.rule == "logistic":
            grown = stock + self.rate * stock * (1 - stock / capacity)
        else:
            if rng is None:
                raise ValueError("stochastic regeneration needs the run's RNG")
            grown = float(rng.uniform(self.low, self.high)) * stock
        return int(min(capacity, math.floor(grown + 1e-9)))

    def planning_stock(self, stock: int, capacity: int) -> int:
        """The stock regeneration is expected to give: the one agents plan against.

        Deterministic rules give their exact result; the stochastic rule uses its mean factor.
        """
        if self.rule == "stochastic":
            return int(min(capacity, math.floor(self.expected_factor() * stock + 1e-9)))
        return self.next_stock(stock, capacity)


def sustainable_total(stock: int, capacity: int, regen: Regeneration) -> int:
    """The largest total harvest H with regen(stock - H) >= stock (0 if none keeps it)."""
    if regen.rule == "doubling" and regen.factor == 2.0:
        return stock // 2  # closed form of the search below, the common case
    for total in range(stock, -1, -1):
        if regen.planning_stock(stock - total, capacity) >= stock:
            return total
    return 0


def sustainability_threshold(stock: int, n_agents: int, capacity: int, regen: Regeneration) -> int:
    """f(h): the most each of n agents can take without shrinking the stock next month.

    floor(floor(h/2)/n) under doubling; at h=100, n=5 it is 10.
    """
    if n_agents < 1:
        raise ValueError(f"n_agents must be >= 1, got {n_agents}")
    return sustainable_total(stock, capacity, regen) // n_agents


def clip_request(request: int, stock: int) -> int:
    """A harvest request clipped into [0, stock]."""
    return int(min(max(request, 0), stock))


def allocate(
    requests: Sequence[int], stock: int, rule: AllocationRule, rng: np.random.Generator
) -> list[int]:
    """Share the stock among requests (already clipped to [0, stock]).

    When the requests fit, everyone gets what they asked. Otherwise:
    - ``stochastic``: one unit at a time to a uniformly random agent still wanting more;
    - ``proportional``: floor of each proportional share, the remainder unit by unit by a
      draw weighted by what each still wants.
    """
    wants = [int(r) for r in requests]
    if sum(wants) <= stock:
        return wants
    got = [0] * len(wants)
    if rule == "proportional":
        total = sum(wants)
        got = [w * stock // total for w in wants]
        pool = stock - sum(got)
        while pool > 0:
            missing = np.array([w - g for w, g in zip(wants, got)], dtype=float)
            i = int(rng.choice(len(wants), p=missing / missing.sum()))
            got[i] += 1
            pool -= 1
        return got
    if rule != "stochastic":
        raise ValueError(f"unknown allocation rule {rule!r}; use 'stochastic' or 'proportional'")
    pool = stock
    while pool > 0:
        hungry = [i for i, (w, g) in enumerate(zip(wants, got)) if g < w]
        i = hungry[int(rng.integers(len(hungry)))]
        got[i] += 1
        pool -= 1
    return got


@dataclass
class Commons:
    """The shared resource's state across months."""

    capacity: int = 100
    stock: int = 100
    collapse_below: float = 5
    regen: Regeneration = Regeneration()

    def threshold(self, n_agents: int) -> int:
        return sustainability_threshold(self.stock, n_agents, self.capacity, self.regen)

    def harvest(self, requests: Sequence[int], rule: AllocationRule, rng: np.random.Generator) -> list[int]:
        """Take the allocated catches out of the stock and return them."""
        got = allocate([clip_request(r, self.stock) for r in requests], self.stock, rule, rng)
        self.stock -= sum(got)
        return got

    @property
    def collapsed(self) -> bool:
        return self.stock < self.collapse_below

    def regenerate(self, rng: np.random.Generator) -> None:
        self.stock = self.regen.next_stock(self.stock, self.capacity, rng)
