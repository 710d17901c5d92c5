"""Tables the dashboard shows, derived from run-log events (no Streamlit here).

Every function takes what ``govsim.runlog.read_run`` gives (events, config, summary) and
copes with partial logs: a missing field gives an empty cell, never an exception.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from govsim.report import group_label, runs_frame
from govsim.runlog import RunData, read_run

FINISHED, UNFINISHED, DAMAGED = "finished", "unfinished", "damaged"
_MISSING_SUMMARY = "summary is missing"  # the problem read_run reports for a run still going (or killed)
ISSUE_TYPES = ("parse_failure", "fallback", "invalid_action", "agent_error")
NO_LIMIT = -1
REREST_FILE = "rerest_summary.csv"
REREST_COLUMNS = (
    "iteration", "method", "survival_rate", "survival_rate_ci", "survival_time", "survival_time_ci", "gain",
    "gain_ci", "efficiency", "efficiency_ci", "sample_pass_rate", "reflection_pass_rate",
)
REREST_METRICS = ("survival_rate", "survival_time", "gain", "efficiency", "sample_pass_rate", "reflection_pass_rate")


# ---------------------------------------------------------------------------- runs


def damage(run: RunData) -> list[str]:
    """What is wrong with a run beyond not being finished yet."""
    return [p for p in run.problems if not p.startswith(_MISSING_SUMMARY)]


def status(run: RunData) -> str:
    """finished, unfinished (no summary yet, nothing broken) or damaged (anything broken)."""
    if damage(run):
        return DAMAGED
    return FINISHED if run.finished else UNFINISHED


def months_played(events: Iterable[dict[str, Any]]) -> int:
    return max((int(e.get("month") or 0) for e in events if e.get("type") == "month_started"), default=0)


_STOCK_KEYS = {"month_started": "stock", "harvest_done": "stock_after", "month_ended": "stock_next", "run_ended": "stock"}


def latest_stock(events: list[dict[str, Any]]) -> int | None:
    """The most recent stock the log mentions (month start, after harvest, or regrown)."""
    for e in reversed(events):
        key = _STOCK_KEYS.get(e.get("type"))
        if key and e.get(key) is not None:
            return int(e[key])
    return None


def relative(path: str | Path, root: str | Path) -> str:
    """A run's name as the pages show it: its path under the root ('.' for the root itself)."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def runs_table(root: str | Path, load: Callable[[Path], RunData] = read_run) -> pd.DataFrame:
    """``govsim.report.runs_frame`` plus each run's status, months played and every problem.

    ``load`` reads one run; the app passes its cached reader so pages share one read.
    """
    frame = runs_frame([root])
    if frame.empty:
        return frame
    extra = []
    for path in frame["run"]:
        run = load(Path(path))
        extra.append(
            {
                "status": status(run),
                "months": (run.summary or {}).get("metrics", {}).get("survival_time") or months_played(run.events),
                "events": len(run.events),
                "problems": "; ".join(run.problems),
            }
        )
    frame = frame.drop(columns=["problems"]).join(pd.DataFrame(extra, index=frame.index))
    frame.insert(0, "name", [relative(p, root) for p in frame["run"]])
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
        months[int(event.get("month") or 0)].append(event)
    return dict(months)


def month_frame(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per month: stock at the start and after the harvest, f(h), limit, collapse.

    ``sustainable_total`` is f(h) times the agents present (what the env told them they
    could take in all without shrinking the stock); a harvest leaving the stock at or
    above ``stock - sustainable_total`` was sustainable.
    """
    rows: dict[int, dict[str, Any]] = {}
    for e in events:
        kind, month = e.get("type"), int(e.get("month") or 0)
        if kind == "month_started":
            n = len(e.get("agents") or [])
            rows[month] = {
                "month": month, "stock": e.get("stock"), "threshold": e.get("threshold"), "agents": n,
                "sustainable_total": (e.get("threshold") or 0) * n,
            }
        row = rows.get(month)
        if row is None:
            continue
        if kind == "harvest_done":
            row["stock_after_harvest"] = e.get("stock_after")
            row["total_caught"] = e.get("total")
        elif kind == "summary":
            limit = e.get("agreed_limit")
            row["agreed_limit"] = None if limit is None or int(limit) == NO_LIMIT else int(limit)
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
    """``memory`` or ``insight`` events as a table (month, agent, kind, importance, text)."""
    rows = [
        {"seq": e.get("seq"), "month": e.get("month"), "agent": e.get("agent"), "kind": e.get("kind", kind),
         "importance": e.get("importance"), "text": e.get("text", "")}
        for e in events
        if e.get("type") == kind
    ]
    return pd.DataFrame(rows, columns=["seq", "month", "agent", "kind", "importance", "text"])


def llm_frame(events: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per LLM call (the prompt and reply themselves stay in the events)."""
    rows = [
        {"seq": e.get("seq"), "month": e.get("month"), "agent": e.get("agent"), "purpose": e.get("purpose"),
         "model": e.get("model"), "backend": e.get("backend"), "prompt_tokens": e.get("prompt_tokens"),
         "completion_tokens": e.get("completion_tokens"), "latency_s": e.get("latency_s"),
         "reply": str(e.get("text") or "")[:120]}
        for e in events
        if e.get("type") == "llm_call"
    ]
    columns = ["seq", "month", "agent", "purpose", "model", "backend", "prompt_tokens", "completion_tokens",
               "latency_s", "reply"]
    return pd.DataFrame(rows, columns=columns)


def identity(run: RunData) -> dict[str, Any]:
    """scenario, experiment, seed, model and agents ({name: type}) of a run.

    Taken from the summary, else the run_started event, else the config, so an
    unfinished or damaged run still says what it is.
    """
    cfg = run.config or {}
    found: dict[str, Any] = {
        "scenario": cfg.get("scenario"), "experiment": cfg.get("experiment"), "seed": cfg.get("seed"), "model": None,
        "agents": {s.get("name"): s.get("type") for s in cfg.get("agents") or [] if isinstance(s, dict)},
    }
    started = next((e for e in run.events if e.get("type") == "run_started"), {})
    for source in (started, run.summary or {}):
        found.update({k: source[k] for k in found if source.get(k) is not None})
    return found


# ---------------------------------------------------------------------------- comparing runs


def varying(frame: pd.DataFrame, by: Iterable[str]) -> list[str]:
    """The grouping keys whose values differ between rows (all of them if none do).

    Grouping by these gives the same groups as by all keys, with shorter labels.
    """
    by = [k for k in by if k in frame.columns]
    return [k for k in by if frame[k].astype(str).nunique() > 1] or by


def with_groups(frame: pd.DataFrame, by: Iterable[str]) -> tuple[pd.DataFrame, list[str]]:
    """The frame with a ``group`` column labelled as ``govsim.report.km_curves`` labels
    its groups, and the keys used; no keys means one group, "all runs"."""
    frame = frame.copy()
    keys = varying(frame, by)
    if not keys:
        frame["group"], keys = "all runs", ["group"]
    else:
        frame["group"] = [group_label(tuple(row)) for row in frame[keys].itertuples(index=False)]
    return frame, keys


# ---------------------------------------------------------------------------- Re-ReST


def find_rerest(root: str | Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(root.rglob(REREST_FILE)) if root.is_dir() else []


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
    for column in [c for c in REREST_COLUMNS if c != "method" and c in frame.columns]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = int(values.isna().sum() - frame[column].isna().sum())
        if bad:
            problems.append(f"{column}: {bad} value(s) are not numbers (left empty)")
        frame[column] = values
    if "iteration" in frame.columns:
        frame = frame.sort_values(["iteration", *(["method"] if "method" in frame.columns else [])])
    return frame.reset_index(drop=True), problems


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
