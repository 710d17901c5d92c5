"""The run log's event schema: every event type, its fields and their types.

One module that writers (the env, the runner, the agents, the LLM logger) and readers
(reports, sweeps, the dashboard, Re-ReST) share. ``problems(event)`` says what is wrong
with one event; ``RunWriter.append`` refuses an event of a known type that breaks the
schema (a bug in the writer), and readers drop such events and report them as problems
of that run, never raising. Events of other types (a plugin may add its own) are kept
and reported as unknown.

Every event carries ``v`` (format version), ``seq`` (0, 1, 2, ...), ``type`` and ``ts``
(wall-clock seconds). Events of the env and of the agents also carry ``month`` and
``phase``: those in force when the env or the agent acted. ``llm_call`` events hold the
caller's identity (``agent``, ``purpose``, ``month``, ``attempt``, ``seed``) as top-level
fields besides ``tags``.

Format history:

- 2: agent events stamped with the month and phase in which the agent acted (version 1
  stamped them after the env stepped, one phase late); ``llm_call`` identity fields at the
  top level (version 1 held them only in ``tags``: ``upgrade`` lifts them on reading).
- 1: the first format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

# The JSON types a field may hold: names for messages, Python types for checks.
INT = "int"
NUM = "number"
STR = "str"
BOOL = "bool"
LIST = "list"
DICT = "dict"
ANY = "any"
_CHECKS = {
    INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    NUM: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    STR: lambda v: isinstance(v, str),
    BOOL: lambda v: isinstance(v, bool),
    LIST: lambda v: isinstance(v, list),
    DICT: lambda v: isinstance(v, dict),
    ANY: lambda v: True,
}


@dataclass(frozen=True)
class EventType:
    """One kind of event: who writes it, what it means, the fields it must and may have.

    A field's type is one name or a tuple of names (``(INT, None)``: an int or null).
    """

    doc: str
    required: Mapping[str, Any] = field(default_factory=dict)
    optional: Mapping[str, Any] = field(default_factory=dict)


COMMON = {"v": INT, "seq": INT, "type": STR}
COMMON_OPTIONAL = {"ts": NUM}  # the writer always adds it
WHEN = {"month": INT, "phase": STR}  # the moment in force when the writer acted
CALLER = {"agent": STR, "purpose": STR}

EVENTS: dict[str, EventType] = {
    # runner
    "run_started": EventType(
        "the episode began", {"scenario": STR, "experiment": STR, "seed": INT, "agents": DICT},
        {"model": (STR, None), "model_id": (STR, None), "profile": STR},
    ),
    "run_resumed": EventType("the episode continued from its checkpoint", {"month": INT}),
    "run_failed": EventType(
        "the episode was stopped because its LLM calls kept failing", {**WHEN, "reason": STR},
        {"failed_calls": INT, "calls": INT},
    ),
    "agent_error": EventType("an agent raised; its action counts as missing", {**WHEN, "agent": STR, "error": STR}),
    # env
    "month_started": EventType("a month began", {**WHEN, "stock": INT, "agents": LIST, "threshold": INT}),
    "agent_joined": EventType("a seat joined the commons", {**WHEN, "agent": STR, "text": STR}),
    "harvest": EventType(
        "one agent's harvest", {**WHEN, "agent": STR, "wanted": INT, "caught": INT, "threshold": INT},
    ),
    "harvest_done": EventType(
        "the month's harvest was allocated", {**WHEN, "stock_before": INT, "stock_after": INT, "total": INT},
    ),
    "discussion_started": EventType(
        "the mayor's report opened the talk", {**WHEN, "report": STR, "first_speaker": STR},
    ),
    "utterance": EventType(
        "one turn of the talk",
        {**WHEN, "agent": STR, "text": STR, "end": BOOL, "turn": INT, "next_speaker": (STR, None)},
    ),
    "summary": EventType(
        "the talk's summary and agreed limit", {**WHEN, "agent": STR, "text": STR, "agreed_limit": INT},
    ),
    "reflection": EventType("an agent's reflection text", {**WHEN, "agent": STR, "text": STR}),
    "month_ended": EventType(
        "a month ended", {**WHEN, "stock_after_harvest": INT, "collapsed": BOOL, "stock_next": (INT, None)},
    ),
    "run_ended": EventType("the episode ended", {**WHEN, "collapsed": BOOL, "stock": INT}),
    "invalid_action": EventType(
        "an action was missing, out of range or coerced; ``fix`` says what was used",
        {**WHEN, "agent": STR, "key": STR, "fix": STR}, {"value": ANY},
    ),
    # institutions (govsim/institutions): election
    "agenda": EventType(
        "a candidate's agenda: the per-person limit it proposes (-1: none) and its sentence",
        {**WHEN, "agent": STR, "limit": INT, "text": STR},
    ),
    "vote": EventType(
        "one agent's vote; an invalid one (missing, not a candidate) has candidate null and says why",
        {**WHEN, "agent": STR, "candidate": (STR, None), "valid": BOOL}, {"reason": STR},
    ),
    "election": EventType(
        "the votes counted: the leader, its term and limit; a tie names the tied, and the leader was drawn by lot",
        {**WHEN, "leader": STR, "votes": DICT, "invalid": INT, "tie": BOOL, "tied": LIST, "term_end": INT,
         "limit": INT},
    ),
    "limit_announced": EventType(
        "the leader's limit in force, announced before the harvest (-1: none)", {**WHEN, "agent": STR, "limit": INT},
    ),
    # institutions: sanctions
    "sanction": EventType(
        "an agent paid ``cost`` to fine ``target``, whose catch it saw over the limit, ``fine``",
        {**WHEN, "agent": STR, "target": STR, "cost": NUM, "fine": NUM, "caught": INT, "limit": INT},
    ),
    "sanctions_done": EventType(
        "the month's sanctions: the limit (-1: none), who was over it, whom each fined, what each paid and was fined",
        {**WHEN, "limit": INT, "over": LIST, "given": DICT, "costs": DICT, "fines": DICT},
    ),
    # inference layer (through the agent's logger)
    "llm_call": EventType(
        "one request to a model and its reply",
        {
            **WHEN, **CALLER, "attempt": INT, "backend": STR, "model": STR, "messages": LIST,
            "sampling": DICT, "prompt_tokens": INT, "completion_tokens": INT, "finish_reason": STR,
            "tags": DICT,
        },
        {
            "seed": INT, "adapter": (STR, None), "constraint": (DICT, None), "text": (STR, None),
            "constrained": BOOL, "latency_s": (NUM, None), "t_submit": NUM, "t_done": NUM,
            "in_flight": (INT, None), "error": STR,
        },
    ),
    # agents
    "parse_failure": EventType(
        "no attempt of a decision could be read", {**WHEN, **CALLER, "text": STR, "attempts": INT},
    ),
    "fallback": EventType(
        "the agent replaced what the model did not give", {**WHEN, **CALLER, "used": ANY, "reason": STR},
    ),
    "memory": EventType(
        "a memory stored",
        {**WHEN, "agent": STR, "kind": STR, "text": STR, "importance": NUM, "id": INT},
        {"always_relevant": BOOL, "expires": (STR, None), "created": STR},
    ),
    "insight": EventType(
        "a thought stored (reflection, planning)",
        {**WHEN, "agent": STR, "kind": STR, "text": STR, "importance": NUM, "id": INT},
        {"always_relevant": BOOL, "cites": LIST, "expires": (STR, None), "created": STR, "source": STR},
    ),
}

# The tags of an LLM request that llm_call events also carry as top-level fields.
CALL_IDENTITY = ("agent", "purpose", "month", "attempt", "seed")
AGENT_EVENT_TYPES = frozenset({"llm_call", "parse_failure", "fallback", "memory", "insight", "agent_error"})


def _type_ok(value: Any, spec: Any) -> bool:
    options = spec if isinstance(spec, tuple) else (spec,)
    return any(value is None if o is None else _CHECKS[o](value) for o in options)


def _type_name(spec: Any) -> str:
    options = spec if isinstance(spec, tuple) else (spec,)
    return " or ".join("null" if o is None else o for o in options)


def problems(event: Any) -> list[str]:
    """What is wrong with one event (empty: valid). Unknown types are checked for the common fields only."""
    if not isinstance(event, dict):
        return [f"not a JSON object but {type(event).__name__}"]
    found: list[str] = []
    kind = EVENTS.get(event.get("type")) if isinstance(event.get("type"), str) else None
    required = {**COMMON, **(kind.required if kind else {})}
    optional = {**COMMON_OPTIONAL, **(kind.optional if kind else {})}
    for key, spec in {**required, **optional}.items():
        if key not in event:
            if key in required:
                found.append(f"missing {key!r}")
            continue
        if not _type_ok(event[key], spec):
            found.append(f"{key!r} should be {_type_name(spec)}, got {type(event[key]).__name__}")
    if isinstance(event.get("v"), int) and event["v"] not in READABLE_VERSIONS:
        found.append(f"format version {event['v']} is not one of {READABLE_VERSIONS}")
    return found


# summary.json: the keys every reader relies on, and the metric types.
SUMMARY_FIELDS = {"metrics": DICT, "counters": DICT}
SUMMARY_OPTIONAL = {
    "valid": BOOL, "invalid_reason": (STR, None), "model_id": (STR, None), "model_identity": (DICT, None),
    "wall_s": NUM, "seed": INT, "scenario": STR, "experiment": STR, "agents": DICT,
}
METRIC_TYPES = {
    "finished": BOOL, "survived": BOOL, "survival_time": NUM, "gain": NUM, "efficiency": NUM, "equality": NUM,
    "over_usage": NUM, "gain_before_sanctions": NUM, "gain_after_sanctions": NUM,
}


def summary_problems(summary: Any) -> list[str]:
    """What is wrong with a summary.json (empty: valid)."""
    if not isinstance(summary, dict):
        return [f"not a JSON object but {type(summary).__name__}"]
    found = [
        f"{key!r} should be {_type_name(spec)}, got {type(summary[key]).__name__}"
        for key, spec in {**SUMMARY_FIELDS, **SUMMARY_OPTIONAL}.items()
        if key in summary and not _type_ok(summary[key], spec)
    ]
    found += [f"missing {key!r}" for key in SUMMARY_FIELDS if key not in summary]
    metrics = summary.get("metrics")
    if isinstance(metrics, dict):
        found += [
            f"metrics.{key} should be {_type_name(spec)}, got {type(metrics[key]).__name__}"
            for key, spec in METRIC_TYPES.items()
            if key in metrics and not _type_ok(metrics[key], spec)
        ]
    counters = summary.get("counters")
    if isinstance(counters, dict):
        found += [f"counters.{k} should be int" for k, v in counters.items() if not _CHECKS[INT](v)]
    return found


def upgrade(event: dict[str, Any]) -> dict[str, Any]:
    """A version-1 event in the current shape (llm_call identity lifted from ``tags``)."""
    if event.get("v") == 1 and event.get("type") == "llm_call" and isinstance(event.get("tags"), dict):
        lifted = {k: event["tags"][k] for k in CALL_IDENTITY if k in event["tags"] and k not in event}
        return {**event, **lifted}
    return event


def describe() -> str:
    """The schema as a Markdown table (``govsim schema`` prints it)."""
    rows = ["| type | meaning | required | optional |", "|---|---|---|---|"]
    for name, kind in EVENTS.items():
        req = ", ".join(f"{k}: {_type_name(s)}" for k, s in kind.required.items())
        opt = ", ".join(f"{k}: {_type_name(s)}" for k, s in kind.optional.items())
        rows.append(f"| {name} | {kind.doc} | {req} | {opt} |")
    return "\n".join(rows)
