"""Tables the dashboard shows, derived from run-log events (no Streamlit here).

Every function takes what ``govsim.runlog.read_run`` gives (events, config, summary) and
copes with partial and damaged logs: a missing or ill-typed field gives an empty cell and,
for a summary, a line in the run's problems; never an exception.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from govsim.events import upgrade
from govsim.metrics import COUNTERS, METRICS, counters
from govsim.phases import NO_LIMIT
from govsim.rerest.results import CHARTED
from govsim.rerest.results import READ_COLUMNS as REREST_COLUMNS
from govsim.runlog import RunData, find_runs, read_run

FINISHED, UNFINISHED, INVALID, DAMAGED = "finished", "unfinished", "invalid", "damaged"
STATUSES = (FINISHED, UNFINISHED, INVALID, DAMAGED)
_MISSING_SUMMARY = "summary is missing"  # the problem read_run reports for a run still going (or killed)
ISSUE_TYPES = ("parse_failure", "fallback", "invalid_action", "agent_error")
RUN_COLUMNS = [
    "run", "name", "status", "scenario", "experiment", "profile", "institutions", "model", "model_id", "agents", "seed",
    "months",
    "events", "horizon", "finished", "problems", *METRICS, *COUNTERS,
]
NUMERIC = ("months", "horizon", *(m for m in METRICS if m != "survived"))
WHOLE = ("seed", "events", "horizon")  # nullable integers, so a seed groups as 0, not 0.0


# ---------------------------------------------------------------------------- values


def number(value: Any) -> float | int | None:
    """A finite number, else None (booleans are not numbers here)."""
    return value if finite(value) else None


def as_int(value: Any, default: int = 0) -> int:
    """An int from a log field that should hold one (a damaged value gives ``default``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return default
    try:
        return int(value)
    except (ValueError, OverflowError):
        return default


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _seats(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


# What each summary field the pages read must hold, and how to say so when it does not.
_SUMMARY_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "scenario": (_text, "a name"), "experiment": (_text, "a name"), "profile": (_text, "a name"),
    "model": (_text, "a model name"), "model_id": (_text, "a model id"), "invalid_reason": (_text, "a reason"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "agents": (_seats, "an object of seat names and agent types"),
    "valid": (lambda v: isinstance(v, bool), "true or false"),
}
_METRIC_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "survived": (lambda v: isinstance(v, bool), "true or false"),
    **{m: (finite, "a number") for m in METRICS if m != "survived"},
}


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value, default=str)[:40]}"


def checked_summary(summary: Any) -> tuple[dict[str, Any], list[str]]:
    """The summary fields the pages read, each of the type it must have or None, and a
    problem line for each that was present but not of that type. Metrics and counters
    come flat, beside the identity fields (their names differ).

    ``read_run`` already drops a summary breaking ``govsim.events``' schema; these checks
    cover the fields that schema leaves open (model, seats' types) and keep the pages
    standing whatever a summary holds.
    """
    if summary is None:
        return {}, []
    if not isinstance(summary, dict):
        return {}, [f"summary.json: not an object but {type(summary).__name__} (left out)"]
    problems: list[str] = []
    fields: dict[str, Any] = {}

    def take(source: dict[str, Any], key: str, check: Callable[[Any], bool], want: str, where: str) -> None:
        value = source.get(key)
        if value is None:
            fields[key] = None
        elif check(value):
            fields[key] = value
        else:
            fields[key] = None
            problems.append(f"summary.json: {where}{key} is {_shown(value)}, not {want} (left empty)")

    for key, (check, want) in _SUMMARY_CHECKS.items():
        take(summary, key, check, want, "")
    for section, checks in (("metrics", _METRIC_CHECKS), ("counters", {c: (_count, "a count") for c in COUNTERS})):
        values = summary.get(section)
        if values is not None and not isinstance(values, dict):
            problems.append(f"summary.json: {section} is {_shown(values)}, not an object (its values left empty)")
            values = None
        for key, (check, want) in checks.items():
            take(values or {}, key, check, want, f"{section}.")
    return fields, problems


def problems(run: RunData) -> list[str]:
    """Everything wrong with a run: what ``read_run`` found, then bad summary fields, then
    why the run was stopped if it was."""
    fields, found = checked_summary(run.summary)
    reason = fields.get("invalid_reason") or "no reason given"
    stopped = [f"the run was stopped: {reason}"] if fields.get("valid") is False else []
    return [*run.problems, *found, *stopped]


# ---------------------------------------------------------------------------- runs


def damage(run: RunData) -> list[str]:
    """What is wrong with a run beyond not being finished yet (or having been stopped)."""
    _, found = checked_summary(run.summary)
    return [p for p in [*run.problems, *found] if not p.startswith(_MISSING_SUMMARY)]


def status(run: RunData) -> str:
    """finished, unfinished (no summary yet, nothing broken), invalid (stopped because its
    LLM calls kept failing) or damaged (anything broken)."""
    if damage(run):
        return DAMAGED
    if not run.finished:
        return UNFINISHED
    return INVALID if checked_summary(run.summary)[0].get("valid") is False else FINISHED


def months_played(events: Iterable[dict[str, Any]]) -> int:
    return max((as_int(e.get("month")) for e in events if e.get("type") == "month_started"), default=0)


_STOCK_KEYS = {"month_started": "stock", "harvest_done": "stock_after", "month_ended": "stock_next", "run_ended": "stock"}


def latest_stock(events: list[dict[str, Any]]) -> int | None:
    """The most recent stock the log mentions (month start, after harvest, or regrown)."""
    for e in reversed(events):
        key = _STOCK_KEYS.get(e.get("type"))
        if key and number(e.get(key)) is not None:
            return int(e[key])
    return None


def relative(path: str | Path, root: str | Path) -> str:
    """A run's name as the pages show it: its path under the root ('.' for the root itself)."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def agent_mix(seats: dict[str, str | None]) -> str:
    """Seats as ``govsim.report`` labels them: ``sustainable*4,greedy``."""
    counts = Counter(str(kind) for kind in seats.values())
    return ",".join(f"{kind}*{n}" if n > 1 else kind for kind, n in counts.items())


def institutions(config: dict[str, Any] | None) -> str:
    """The month's institutions a run's config names (``election,sanctions``), ``none`` for the
    paper's month (configs from before institutions have no such key)."""
    named = (config or {}).get("institutions")
    if isinstance(named, str):
        named = [named]
    return ",".join(str(n) for n in named) if isinstance(named, list) and named else "none"


def run_row(path: Path, run: RunData, root: str | Path) -> dict[str, Any]:
    """One run as the Runs and Compare pages list it; every value of the type its column holds."""
    fields, _ = checked_summary(run.summary)
    who = identity(run)
    model = who["model"] or "-"
    row = {
        "run": str(path), "name": relative(path, root), "status": status(run),
        "scenario": who["scenario"], "experiment": who["experiment"], "profile": who["profile"] or "paper",
        "institutions": institutions(run.config),
        "model": model, "model_id": fields.get("model_id") or who["model_id"] or model,
        "agents": agent_mix(who["agents"]), "seed": who["seed"],
        "months": fields.get("survival_time") or months_played(run.events), "events": len(run.events),
        "horizon": number((run.config or {}).get("months")), "finished": run.finished, "problems": "; ".join(problems(run)),
    }
    row.update({m: fields.get(m) for m in METRICS})
    # A counter the summary lacks (no summary yet; decisions before format 2; a damaged
    # value) is counted from the events, as govsim.metrics counts it for a summary.
    logged = counters(run.events) if any(fields.get(c) is None for c in COUNTERS) else {}
    row.update({c: logged.get(c, 0) if fields.get(c) is None else fields[c] for c in COUNTERS})
    return row


def runs_table(root: str | Path, load: Callable[[Path], RunData] = read_run) -> pd.DataFrame:
    """Every run folder under ``root``: identity, status, months, metrics, counters, problems.

    ``load`` reads one run; the app passes its cached reader, which also refuses runs
    linking out of the dashboard's folder. A run's damaged fields are empty cells and
    lines in its ``problems``, never an exception.
    """
    frame = pd.DataFrame([run_row(path, load(path), root) for path in find_runs(root)], columns=RUN_COLUMNS)
    for column in (*NUMERIC, *COUNTERS):  # None becomes NaN: numbers chart and sort
        frame[column] = pd.to_numeric(frame[column])
    for column in WHOLE:
        frame[column] = frame[column].astype("Int64")
    return frame


def sweep_dirs(names: Iterable[str]) -> list[str]:
    """Every folder that holds runs (a run's parent, grandparent, ...), for picking a sweep."""
    found = {"."}
    for name in names:
        for parent in Path(name).parents:
            if str(parent) != ".":
                found.add(str(parent))
    return sorted(found)


def in_dir(names: pd.Series, folder: str) -> pd.Series:
    """Which runs lie under a folder given relative to the root ('.' = all)."""
    if folder == ".":
        return pd.Series(True, index=names.index)
    return names.map(lambda n: n == folder or n.startswith(folder.rstrip("/") + "/"))


# ---------------------------------------------------------------------------- one run


def by_month(events: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Events grouped by their month (events without one, like run_started, under 0)."""
    months: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        months[as_int(event.get("month"))].append(event)
    return dict(months)


def month_frame(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per month: stock at the start and after the harvest, f(h), limit, collapse.

    ``sustainable_total`` is f(h) times the agents present (what the env told them they
    could take in all without shrinking the stock); a harvest leaving the stock at or
    above ``stock - sustainable_total`` was sustainable.
    """
    rows: dict[int, dict[str, Any]] = {}
    for e in events:
        kind, month = e.get("type"), as_int(e.get("month"))
        if kind == "month_started":
            n = len(e.get("agents") or [])
            rows[month] = {
                "month": month, "stock": e.get("stock"), "threshold": e.get("threshold"), "agents": n,
                "sustainable_total": (number(e.get("threshold")) or 0) * n,
            }
        row = rows.get(month)
        if row is None:
            continue
        if kind == "harvest_done":
            row["stock_after_harvest"] = e.get("stock_after")
            row["total_caught"] = e.get("total")
        elif kind == "summary":
            limit = e.get("agreed_limit")
            row["agreed_limit"] = None if number(limit) is None or int(limit) == NO_LIMIT else int(limit)
        elif kind == "month_ended":
            row["collapsed"] = bool(e.get("collapsed"))
            row["stock_next"] = e.get("stock_next")
    columns = [
        "month", "stock", "stock_after_harvest", "stock_next", "total_caught", "threshold", "agents",
        "sustainable_total", "agreed_limit", "collapsed",
    ]
    return pd.DataFrame([rows[m] for m in sorted(rows)], columns=columns)


def harvest_frame(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per harvest: month, agent, wanted, caught, f(h) and whether it was above f(h)."""
    rows = [
        {
            "month": e.get("month"), "agent": e.get("agent"), "wanted": e.get("wanted"), "caught": e.get("caught"),
            "threshold": e.get("threshold"),
        }
        for e in events
        if e.get("type") == "harvest"
    ]
    frame = pd.DataFrame(rows, columns=["month", "agent", "wanted", "caught", "threshold"])
    frame["above_f(h)"] = pd.to_numeric(frame["caught"]) > pd.to_numeric(frame["threshold"])
    return frame


def issue_detail(e: dict[str, Any]) -> str:
    kind = e.get("type")
    if kind == "invalid_action":
        return f"{e.get('key')} = {e.get('value')!r}: {e.get('fix')}"
    if kind == "parse_failure":
        return f"{e.get('purpose')}: no usable reply after {e.get('attempts')} attempt(s); last reply {e.get('text')!r}"
    if kind == "fallback":
        return f"{e.get('purpose')}: used {e.get('used')!r} ({e.get('reason')})"
    return str(e.get("error", ""))


def issues_frame(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Parse failures, fallbacks, invalid actions and agent errors, one line each."""
    rows = [
        {"seq": e.get("seq"), "month": e.get("month"), "phase": e.get("phase"), "type": e.get("type"),
         "agent": e.get("agent"), "detail": issue_detail(e)}
        for e in events
        if e.get("type") in ISSUE_TYPES
    ]
    return pd.DataFrame(rows, columns=["seq", "month", "phase", "type", "agent", "detail"])


def issue_counts(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = {kind: 0 for kind in ISSUE_TYPES}
    for e in events:
        if e.get("type") in counts:
            counts[e["type"]] += 1
    return counts


def notes_frame(events: Iterable[dict[str, Any]], kind: str) -> pd.DataFrame:
    """``memory`` or ``insight`` events as a table (month, agent, kind, source, importance, dates, text)."""
    columns = ["seq", "month", "agent", "kind", "source", "importance", "created", "expires", "text"]
    rows = [{**{key: e.get(key) for key in columns}, "kind": e.get("kind", kind), "text": e.get("text", "")}
            for e in events if e.get("type") == kind]
    return pd.DataFrame(rows, columns=columns)


def call_field(event: dict[str, Any], key: str) -> Any:
    """A field of an ``llm_call`` event that its request also tagged (agent, purpose, month,
    attempt, seed): top-level, where format 1 had them only in ``tags``
    (``govsim.events.upgrade`` lifts them from there).

    Format 1 stamped an agent event's top-level month and phase after the env stepped,
    one phase late; there the month the agent tagged wins and the phase is unknown (None).
    """
    if event.get("v") == 1 and key in ("month", "phase"):
        tags = event.get("tags")
        return tags.get(key) if isinstance(tags, dict) else None
    return upgrade(event).get(key)


def constraint_kind(event: dict[str, Any]) -> str:
    """How the reply was constrained: regex, choice or none."""
    constraint = event.get("constraint")
    if not isinstance(constraint, dict):
        return "none"
    return next((k for k in ("regex", "choice") if constraint.get(k) is not None), "none")


def constraint_text(event: dict[str, Any]) -> str:
    """The constraint in full: the regex, or the allowed choices."""
    constraint = event.get("constraint") if isinstance(event.get("constraint"), dict) else {}
    if constraint.get("regex") is not None:
        return f"regex {constraint['regex']}"
    if constraint.get("choice") is not None:
        return "one of " + " | ".join(map(str, constraint["choice"]))
    return "none"


LLM_COLUMNS = [
    "seq", "month", "phase", "agent", "purpose", "attempt", "constraint", "finish_reason", "model", "backend",
    "prompt_tokens", "completion_tokens", "latency_s", "error", "reply",
]
LLM_FILTERS = ("month", "phase", "agent", "purpose", "attempt", "constraint", "finish_reason")


def llm_frame(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per LLM call (the prompt and reply themselves stay in the events)."""
    rows = [
        {"seq": e.get("seq"), **{k: call_field(e, k) for k in ("month", "phase", "agent", "purpose", "attempt")},
         "constraint": constraint_kind(e), "finish_reason": e.get("finish_reason"), "model": e.get("model"),
         "backend": e.get("backend"), "prompt_tokens": number(e.get("prompt_tokens")),
         "completion_tokens": number(e.get("completion_tokens")), "latency_s": number(e.get("latency_s")),
         "error": e.get("error"), "reply": str(e.get("text") or "")[:120]}
        for e in events
        if e.get("type") == "llm_call"
    ]
    frame = pd.DataFrame(rows, columns=LLM_COLUMNS)
    for key in LLM_FILTERS:  # a list or object here (a damaged log) would break the filters' unique()
        frame[key] = frame[key].map(lambda v: None if v is None or isinstance(v, (dict, list)) else v)
    return frame


def identity(run: RunData) -> dict[str, Any]:
    """scenario, experiment, profile, seed, model, model_id and agents ({name: type}) of a run.

    Taken from the summary, else the run_started event, else the config, so an
    unfinished or damaged run still says what it is; a value of the wrong type counts as
    absent.
    """
    cfg = run.config or {}
    seats = cfg.get("agents") if isinstance(cfg.get("agents"), list) else []
    keys = ("scenario", "experiment", "profile", "seed", "model", "model_id")
    found: dict[str, Any] = {
        **{k: cfg.get(k) for k in keys},
        "agents": {s.get("name"): s.get("type") for s in seats if isinstance(s, dict)},
    }
    started = next((e for e in run.events if e.get("type") == "run_started"), {})
    for source in (started, checked_summary(run.summary)[0]):
        found.update({k: source[k] for k in found if source.get(k) is not None})
    for key in found:  # the config and the events are checked here too: any may be damaged
        check = _SUMMARY_CHECKS[key][0]
        if found[key] is not None and not check(found[key]):
            found[key] = None
    found["agents"] = found["agents"] or {}
    return found


# ---------------------------------------------------------------------------- comparing runs


def varying(frame: pd.DataFrame, by: Iterable[str]) -> list[str]:
    """The grouping keys whose values differ between rows (all of them if none do).

    Grouping by these gives the same groups as by all keys, with shorter labels.
    """
    by = [k for k in by if k in frame.columns]
    return [k for k in by if frame[k].astype(str).nunique() > 1] or by


def group_part(key: str, value: Any) -> str:
    """One key's part of a group's label; the planned months say what they are (``12 months``)."""
    if key == "horizon" and not pd.isna(value):
        return f"{value} month{'' if value == 1 else 's'}"
    return str(value)


def with_groups(frame: pd.DataFrame, by: Iterable[str]) -> tuple[pd.DataFrame, list[str]]:
    """The frame with a ``group`` column (the values of the keys that differ, joined as
    ``govsim.report.group_label`` joins them), and the keys used; no keys means one group,
    "all runs". Pages pass ``group`` as the key to the report's tables and curves, so their
    groups carry these labels."""
    frame = frame.copy()
    keys = varying(frame, by)
    if not keys:
        frame["group"], keys = "all runs", ["group"]
    else:
        frame["group"] = [" / ".join(group_part(k, v) for k, v in zip(keys, row))
                          for row in frame[keys].itertuples(index=False)]
    return frame, keys


def report_frame(healthy: pd.DataFrame) -> pd.DataFrame:
    """Healthy finished runs in ``govsim.report``'s terms, for its ``summary_table`` and
    ``km_curves``: the runs are already chosen (the report's own ``status`` vocabulary is not
    needed), and its ``months`` is the runs' planned months (``horizon`` here, the ceiling
    of survival time's interval), not the months they survived."""
    return healthy.drop(columns=["status"]).assign(months=healthy["horizon"])


def with_interval_text(table: pd.DataFrame) -> pd.DataFrame:
    """The table for the page: each metric's mean, then its interval as ``low–high``
    (``n/a`` for a group too small for one) in place of the ``_low``/``_high``/``_ci`` numbers."""
    out = table.copy()
    for metric in [c[: -len("_low")] for c in table.columns if c.endswith("_low")]:
        low, high = out.pop(f"{metric}_low"), out.pop(f"{metric}_high")
        out.pop(f"{metric}_ci")
        out.insert(out.columns.get_loc(metric) + 1, f"{metric}_ci",
                   ["n/a" if pd.isna(lo) or pd.isna(hi) else f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(low, high)])
    return out


# ---------------------------------------------------------------------------- Re-ReST


def read_rerest(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The Re-ReST summary table and what is wrong with it (never raises on a bad file)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        return pd.DataFrame(columns=list(REREST_COLUMNS)), [f"{Path(path).name} is unreadable ({exc})"]
    problems = []
    missing = [c for c in REREST_COLUMNS if c not in frame.columns]
    if missing:
        problems.append(f"{Path(path).name} lacks column(s) {', '.join(missing)}")
    numeric = dict.fromkeys([*REREST_COLUMNS, *(c for m in CHARTED for c in (m, f"{m}_ci"))])  # what is read or charted
    for column in [c for c in numeric if c != "method" and c in frame.columns]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = int(values.isna().sum() - frame[column].isna().sum())
        if bad:
            problems.append(f"{column}: {bad} value(s) are not numbers (left empty)")
        frame[column] = values
    if "iteration" in frame.columns:
        frame = frame.sort_values(["iteration", *(["method"] if "method" in frame.columns else [])])
    return frame.reset_index(drop=True), problems

