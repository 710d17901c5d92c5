"""Sanctions: after the harvest report, each agent may pay to fine those it saw over the limit.

One phase, SANCTION, after the harvest (before the talk), in every month with more than
one agent present. The limit is the one in force for this month's harvest (the last
talk's agreed limit, or the leader's under an election); with none, nobody can be fined.
An agent may fine another whose catch it saw above that limit: catches are seen through
the public report (the mayor's, with communication); without it an agent sees only its
own catch and can fine nobody.

Action ``sanction``: whom to fine, as a list of names, one name, or a 0/1 mask in seat
order (``envs.spaces.Seats`` holds all three; its samples are masks); an empty list or
all zeros fines nobody. Each fine costs the agent ``sanctions.cost`` units and takes
``cost * sanctions.fine_ratio`` from the one fined (the fine is destroyed, no one
receives it). A target it may not fine (itself, absent, not over the limit, not seen, no
limit, named twice) is refused and recorded as an ``invalid_action``. The step's rewards
are minus what each paid and was fined, so gains after sanctions are the harvest minus
costs and fines.

Events: ``sanction`` for each fine, then ``sanctions_done`` (the limit, who was over,
whom each fined, each one's costs and fines). The fines are added to the public report,
so the talk hears of them. Observation keys: ``sanctionable`` (a 0/1 mask of whom the
agent may fine now), ``fines_received`` and ``sanction_costs`` (this month's totals).
Info keys: ``sanctionable``, ``sanction_catches`` (what each of them caught),
``sanctions`` (this month's fines) and ``sanction_report`` (them in words),
``sanction_cost``, ``sanction_fine``, ``sanction_limit``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from govsim.institutions import Institution
from govsim.phases import NO_LIMIT, Phase

SANCTION = "sanction"  # action: whom to fine


def amount_text(value: float) -> str:
    """A cost or fine as sentences show it: 1, 2.5, 0.33."""
    return f"{round(value, 2):g}"


class Sanctions(Institution):
    name = "sanctions"
    placement = {Phase.SANCTION: Phase.DISCUSSION}
    keys = {Phase.SANCTION: (SANCTION,)}
    sentences = {
        "sanction_rule": {"cost", "fine", "limit"},
        "sanction_over": {"names"},
        "sanction_none_over": {"limit"},
        "sanction_no_limit": set(),
        "sanction_unseen": set(),
        "sanction_line": {"name", "cost", "target", "fine"},
    }

    def __init__(self, host) -> None:
        super().__init__(host)
        self.cost = float(host.config.sanctions.cost)
        self.fine = self.cost * float(host.config.sanctions.fine_ratio)
        self.reset()

    def reset(self) -> None:
        self.limit = NO_LIMIT
        self.over: list[str] = []
        self.seen = False  # whether this month's catches were made public
        self.fines: list[dict[str, Any]] = []  # this month's
        self.started = False  # whether this month's sanction phase has begun

    # ------------------------------------------------------------------ spaces

    def observation_spaces(self) -> dict[str, spaces.Space]:
        seats = len(self.host.possible_agents)
        others = max(1, seats - 1)
        return {
            "sanctionable": spaces.MultiBinary(seats),
            "fines_received": spaces.Box(0.0, self.fine * others, shape=(1,), dtype=np.float64),
            "sanction_costs": spaces.Box(0.0, self.cost * others, shape=(1,), dtype=np.float64),
        }

    def action_spaces(self) -> dict[str, spaces.Space]:
        return {SANCTION: self.host.seats_space()}

    # ------------------------------------------------------------------ the month

    def new_month(self) -> None:
        self.reset()

    def runs(self, phase: Phase) -> bool:
        return len(self.host.agents) > 1

    def begin(self, phase: Phase) -> None:
        host = self.host
        if phase == Phase.SANCTION:
            self.started = True
            self.limit = host.agreed_limit
            self.seen = bool(host.report_lines)
            caught = {a: h["caught"] for a, h in host.last_harvest.items()}
            self.over = [a for a in host.agents if self.limit != NO_LIMIT and caught.get(a, 0) > self.limit]

    def sanctionable(self, agent: str) -> list[str]:
        """Whom ``agent`` may fine now: the others present seen over the limit."""
        if not self.started or not self.seen or self.host.phase != Phase.SANCTION:
            return []
        return [a for a in self.over if a != agent]

    def step(self, phase: Phase, actions: dict[str, Any]) -> dict[str, float]:
        host = self.host
        given: dict[str, list[str]] = {}
        for agent in host.agents:
            given[agent] = self._targets(agent, actions.get(agent))
        costs = {a: 0.0 for a in host.agents}
        fines = {a: 0.0 for a in host.agents}
        for agent, targets in given.items():
            for target in targets:
                costs[agent] += self.cost
                fines[target] += self.fine
                caught = host.last_harvest[target]["caught"]
                host.event("sanction", agent=agent, target=target, cost=self.cost, fine=self.fine, caught=caught,
                           limit=self.limit)
                self.fines.append({"agent": agent, "target": target, "cost": self.cost, "fine": self.fine})
        host.event("sanctions_done", limit=self.limit, over=list(self.over), given=given, costs=costs, fines=fines)
        if host.report_lines:
            host.report_lines += self._report_lines()
        return {a: -(costs[a] + fines[a]) for a in host.agents}

    def _targets(self, agent: str, action: Any) -> list[str]:
        """The agents ``agent`` fines; each one it may not fine is refused and recorded."""
        host = self.host
        value = host.read_field(agent, action, SANCTION)
        if value is None:
            return []
        names, problem = self._names(value)
        if names is None:
            host.flag_invalid(agent, SANCTION, value, f"{problem}; nobody fined")
            return []
        allowed = self.sanctionable(agent)
        chosen: list[str] = []
        for name in names:
            if name in chosen:
                host.flag_invalid(agent, SANCTION, name, "named twice; fined once")
            elif name in allowed:
                chosen.append(name)
            else:
                host.flag_invalid(agent, SANCTION, name, f"{self._why_not(agent, name)}; no fine")
        return chosen

    def _names(self, value: Any) -> tuple[list[str] | None, str]:
        """The names a sanction value stands for, or None and why it cannot be read."""
        seats = self.host.possible_agents
        if isinstance(value, str):
            return [value], ""
        if isinstance(value, np.ndarray):
            if value.shape != (len(seats),) or value.dtype.kind not in "iub" or not np.isin(value, (0, 1)).all():
                return None, f"not a 0/1 mask of the {len(seats)} seats (an array of shape {value.shape}, dtype {value.dtype})"
            return [s for s, flag in zip(seats, value.tolist()) if flag], ""
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value), ""
        return None, f"not a 0/1 mask of the {len(seats)} seats, a list of names or a name (a {type(value).__name__})"

    def _why_not(self, agent: str, name: str) -> str:
        host = self.host
        if name == agent:
            return "an agent cannot fine itself"
        if name not in host.agents:
            return "not an agent present"
        if self.limit == NO_LIMIT:
            return "no limit in force"
        if not self.seen:
            return "its catch was not made public"
        return f"{host.last_harvest[name]['caught']} is not over the limit of {self.limit}"

    # ------------------------------------------------------------------ what agents see

    def _report_lines(self) -> list[str]:
        """This month's fines in words (the public report carries them)."""
        say = self.host.scenario.say
        return [
            say("sanction_line", name=f["agent"], cost=amount_text(f["cost"]), target=f["target"], fine=amount_text(f["fine"]))
            for f in self.fines
        ]

    def describe(self, agent: str) -> list[str]:
        if self.host.phase != Phase.SANCTION:
            return []
        say = self.host.scenario.say
        if self.limit == NO_LIMIT:
            return [say("sanction_no_limit")]
        if not self.seen:
            return [say("sanction_unseen")]
        lines = [say("sanction_rule", cost=amount_text(self.cost), fine=amount_text(self.fine), limit=self.limit)]
        if self.over:
            lines.append(say("sanction_over", names=", ".join(self.over)))
        else:
            lines.append(say("sanction_none_over", limit=self.limit))
        return lines

    def _totals(self, agent: str) -> tuple[float, float]:
        # count times the amount: never above the space's bound, as a sum of floats could be
        received = self.fine * sum(f["target"] == agent for f in self.fines)
        paid = self.cost * sum(f["agent"] == agent for f in self.fines)
        return received, paid

    def observe(self, agent: str) -> dict[str, Any]:
        allowed = set(self.sanctionable(agent))
        received, paid = self._totals(agent)
        return {
            "sanctionable": np.array([int(s in allowed) for s in self.host.possible_agents], dtype=np.int8),
            "fines_received": np.array([received], dtype=np.float64),
            "sanction_costs": np.array([paid], dtype=np.float64),
        }

    def info(self, agent: str) -> dict[str, Any]:
        return {
            "sanctionable": self.sanctionable(agent),
            "sanction_catches": {t: self.host.last_harvest[t]["caught"] for t in self.sanctionable(agent)},
            "sanctions": [dict(f) for f in self.fines],
            "sanction_report": self._report_lines(),
            "sanction_cost": self.cost,
            "sanction_fine": self.fine,
            "sanction_limit": self.limit,
        }
