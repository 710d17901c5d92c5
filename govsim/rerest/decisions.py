"""Harvest decision inputs, read back from run logs (the only coupling to the simulation).

A decision is the prompt an agent saw at a harvest: the ``messages`` of its first
``llm_call`` with purpose ``harvest`` that month (one user turn; the reasoning stops at
the answer marker). Its ``reply`` is what the agent's context then held, the reasoning
and 'Answer: ' with the number of the month's last ``harvest_amount`` call (the digits
continuation); its ``amount`` is what the env took as its request (the ``harvest``
event's ``wanted``), None if the agent sent none. The check needs the month's state
(``month_started``: stock, agents, threshold; the agreed limit standing from the last
``summary`` before that month; capacity, collapse threshold and regeneration from
``config.json``), and the episode's outcome from ``summary.json`` (survived, survival
time, gain) is kept beside it so that other scorers can use it.

Format-1 logs are read too: their call identity is in ``tags`` (lifted by the reader),
and their top-level ``month`` of an agent's event was stamped a phase late, so the
tagged month is used for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from govsim.dynamics import Regeneration
from govsim.phases import NO_LIMIT, Purpose
from govsim.rerest.reply import join
from govsim.rerest.score import State
from govsim.runlog import find_runs, read_run


@dataclass
class Decision:
    id: str  # "<run dir name>/m<month>/<agent>", unique within one sampling round
    seed: int
    month: int
    agent: str
    messages: list[dict[str, str]]
    reply: str  # the agent's reply in the episode: reasoning, then 'Answer: ' and its number
    adapter: str | None  # the adapter the episode's reply came from, as logged
    state: State
    outcome: dict[str, Any] = field(default_factory=dict)
    amount: int | None = None  # what the env took as the agent's request (None: no request)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"]["regeneration"] = self.state.regeneration.model_dump()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        state = dict(data["state"])
        state["regeneration"] = Regeneration(**state["regeneration"])
        return cls(**{**data, "state": State(**state)})


def tag(event: dict[str, Any], key: str) -> Any:
    """A request tag of an ``llm_call`` event, top-level or under ``tags``."""
    if key in event:
        return event[key]
    tags = event.get("tags") or {}
    return tags.get(key) if isinstance(tags, dict) else dict(tags).get(key)


def call_month(event: dict[str, Any]) -> int:
    """The month an agent's call was made in (format 1: the tagged one, see the module doc)."""
    tags = event.get("tags") if isinstance(event.get("tags"), dict) else {}
    if event.get("v") == 1 and "month" in tags:
        return int(tags["month"])
    return int(event["month"])


def is_call(event: dict[str, Any], purpose: str) -> bool:
    return event.get("type") == "llm_call" and tag(event, "purpose") == purpose


def is_first_harvest_call(event: dict[str, Any]) -> bool:
    return is_call(event, Purpose.HARVEST) and int(tag(event, "attempt") or 1) == 1 and bool(event.get("messages"))


def reply_text(event: dict[str, Any]) -> str:
    return event["text"] if isinstance(event.get("text"), str) else ""


def from_run(path: str | Path) -> list[Decision]:
    """The harvest decisions of one run directory, in log order."""
    run = read_run(path)
    cfg = run.config or {}
    metrics = (run.summary or {}).get("metrics", {})
    outcome = {k: metrics.get(k) for k in ("survived", "survival_time", "gain")}
    regen = Regeneration(**cfg.get("regeneration", {}))
    months: dict[int, dict[str, Any]] = {}
    limit, limits = NO_LIMIT, {}
    found: dict[tuple[int, str], Decision] = {}
    answers: dict[tuple[int, str], str] = {}
    for event in run.events:
        kind = event.get("type")
        if kind == "month_started":
            months[event["month"]] = event
            limits[event["month"]] = limit  # what stands when the month's harvest is asked
        elif kind == "summary":
            limit = int(event.get("agreed_limit", NO_LIMIT))
        elif kind == "harvest" and (event["month"], event["agent"]) in found:
            found[event["month"], event["agent"]].amount = int(event["wanted"])
        elif is_call(event, Purpose.HARVEST_AMOUNT):
            answers[call_month(event), str(tag(event, "agent"))] = reply_text(event)
        elif is_first_harvest_call(event):
            month, agent = call_month(event), str(tag(event, "agent"))
            if (month, agent) in found or month not in months:
                continue
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
            found[month, agent] = Decision(
                id=f"{Path(path).name}/m{month}/{agent}", seed=int(cfg.get("seed", 0)), month=month, agent=agent,
                messages=list(event["messages"]), reply=reply_text(event), adapter=tag(event, "adapter"),
                state=state, outcome=outcome,
            )
    for key, decision in found.items():
        if key in answers:
            decision.reply = join(decision.reply, answers[key])
    return list(found.values())


def from_runs(roots: Iterable[str | Path]) -> list[Decision]:
    return [d for root in roots for path in find_runs(root) for d in from_run(path)]
