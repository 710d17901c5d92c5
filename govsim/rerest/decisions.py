"""Harvest decision inputs, read back from run logs (the only coupling to the simulation).

A decision is the prompt an agent saw at a harvest (the ``messages`` of its first
``llm_call`` with purpose ``harvest`` that month; retries are follow-ups of the same
decision), the reply it gave, the month's state the check needs (``month_started``: stock,
agents, threshold; the agreed limit standing from the last ``summary`` before that month;
capacity, collapse threshold and regeneration from ``config.json``), and the episode's
outcome from ``summary.json`` (survived, survival time, gain) so that other scorers can
use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from govsim.config import RegenConfig
from govsim.phases import NO_LIMIT
from govsim.rerest.score import State
from govsim.runlog import find_runs, read_run

HARVEST = "harvest"


@dataclass
class Decision:
    id: str  # "<run dir name>/m<month>/<agent>", unique within one sampling round
    seed: int
    month: int
    agent: str
    messages: list[dict[str, str]]
    reply: str  # what the agent answered in the episode (first attempt)
    adapter: str | None  # the adapter the episode's reply came from, as logged
    state: State
    outcome: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"]["regeneration"] = asdict(self.state.regeneration)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Decision":
        state = dict(data["state"])
        state["regeneration"] = RegenConfig(**state["regeneration"]).build()
        return cls(**{**data, "state": State(**state)})


def tag(event: dict[str, Any], key: str) -> Any:
    """A request tag of an ``llm_call`` event, top-level or under ``tags``."""
    if key in event:
        return event[key]
    tags = event.get("tags") or {}
    return tags.get(key) if isinstance(tags, dict) else dict(tags).get(key)


def is_first_harvest_call(event: dict[str, Any]) -> bool:
    return (
        event.get("type") == "llm_call"
        and tag(event, "purpose") == HARVEST
        and int(tag(event, "attempt") or 1) == 1
        and bool(event.get("messages"))
    )


def reply_text(event: dict[str, Any]) -> str:
    for key in ("text", "completion", "reply"):
        if isinstance(event.get(key), str):
            return event[key]
    return ""


def from_run(path: str | Path) -> list[Decision]:
    """The harvest decisions of one run directory, in log order."""
    run = read_run(path)
    cfg = run.config or {}
    metrics = (run.summary or {}).get("metrics", {})
    outcome = {k: metrics.get(k) for k in ("survived", "survival_time", "gain")}
    regen = RegenConfig(**cfg.get("regeneration", {})).build()
    months: dict[int, dict[str, Any]] = {}
    limit, limits = NO_LIMIT, {}
    decisions = []
    for event in run.events:
        kind = event.get("type")
        if kind == "month_started":
            months[event["month"]] = event
            limits[event["month"]] = limit  # what stands when the month's harvest is asked
        elif kind == "summary":
            limit = int(event.get("agreed_limit", NO_LIMIT))
        elif is_first_harvest_call(event):
            month = int(tag(event, "month") or event["month"])
            agent = str(tag(event, "agent"))
            started = months[month]
            state = State(
                stock=int(started["stock"]),
                n_agents=len(started["agents"]),
                threshold=int(started["threshold"]),
                agreed_limit=limits[month],
                capacity=int(cfg.get("capacity", 100)),
                collapse_below=float(cfg.get("collapse_below", 5)),
                regeneration=regen,
            )
            decisions.append(
                Decision(
                    id=f"{Path(path).name}/m{month}/{agent}", seed=int(cfg.get("seed", 0)), month=month, agent=agent,
                    messages=list(event["messages"]), reply=reply_text(event), adapter=tag(event, "adapter"),
                    state=state, outcome=outcome,
                )
            )
    return decisions


def from_runs(roots: Iterable[str | Path]) -> list[Decision]:
    return [d for root in roots for path in find_runs(root) for d in from_run(path)]
