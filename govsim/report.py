"""Tables of metrics over runs: the mean and its 95 % interval per group, as markdown or
CSV, Kaplan–Meier survival curves per group, and the comparison with the paper's
published rows (``govsim/published/``).

Reads run directories through ``govsim.runlog`` only. Runs are grouped by scenario,
experiment, ``model_id`` (the resolved model and backend, so a fake-backend run never
pools with a real one; older summaries fall back to their ``model``), agent mix and
(``REPORT_KEYS``) institutions (``none``, ``election``, ``election+sanctions``: a run with
an institution never pools with one without); runs with sanctions add
``gain_after_sanctions`` (``gain`` is the harvest, before them), runs with institutions
their counters (elections, valid and invalid votes, tied elections, sanctions). A
run leaves the table, with its reason in ``left_out``, when it is unfinished, when its
summary says ``valid: false`` (its LLM calls kept failing), or when its summary is
damaged (a field of the wrong type); damaged event lines are listed as that run's
problems. Nothing here raises on a damaged run folder.

Intervals: the survival rate's is Wilson's score interval for a proportion; every other
metric's is the t-interval of the mean. Both are clipped to the metric's valid range, and
a group of one run has none ("n/a").
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from govsim.institutions import label as institutions_label
from govsim.metrics import COUNTERS, INSTITUTION_COUNTERS, METRICS, VARIANTS, counters
from govsim.runlog import SUMMARY_FILE, find_runs, read_run

GROUP_KEYS = ("scenario", "experiment", "model_id", "agents")
REPORT_KEYS = (*GROUP_KEYS, "institutions")  # what govsim report groups by (and a sweep's grid keys)
QUIET_DEFAULTS = {"institutions": institutions_label([])}  # shown only where some run differs
INSTITUTION_TABLE_METRICS = ("gain_after_sanctions",)  # in the table where some run has them
OK, UNFINISHED, INVALID, DAMAGED = "ok", "unfinished", "invalid", "damaged"
TABLE_METRICS = ("survival_rate", *METRICS[1:], *VARIANTS)  # survived becomes the survival rate (in %)
PAPER_METRICS = ("survival_rate", "survival_time", "gain", "efficiency", "equality", "over_usage")
# The valid range of each metric, for clipping intervals; None: the longest run's months.
RANGES = {
    "survival_rate": (0.0, 100.0), "survival_time": (0.0, None), "survival_time_full": (0.0, None),
    "gain": (0.0, math.inf), "efficiency": (0.0, 1.0), "efficiency_full": (0.0, 1.0), "equality": (0.0, 1.0),
    "over_usage": (0.0, 100.0), "gain_after_sanctions": (-math.inf, math.inf),
}
# A variant shown in markdown only where it differs from the paper's metric in some group.
VARIANT_OF = {"survival_time_full": "survival_time", "efficiency_full": "efficiency"}


def runs_frame(roots: Iterable[str | Path], keys: Iterable[str] = ()) -> pd.DataFrame:
    """One row per run found under the roots: identity, status, metrics, counters.

    ``status`` is ``ok``, ``unfinished``, ``invalid`` or ``damaged``; ``reason`` says why
    a run is not ok and ``problems`` lists what the reader found wrong. ``finished``:
    the run has a readable summary. ``keys`` adds a column per config key (dotted:
    ``regeneration.rule``, ``network``) with the run's value, e.g. to group a sweep.
    """
    keys = list(keys)
    rows = []
    for root in roots:
        for path in find_runs(root):
            rows.append(_run_row(path, keys))
    return pd.DataFrame(rows)


def _run_row(path: Path, keys: list[str]) -> dict[str, Any]:
    run = read_run(path)
    cfg = run.config or {}
    summary = run.summary if isinstance(run.summary, dict) else None
    damage = _summary_problems(summary) if summary is not None else []
    if summary is None and (path / SUMMARY_FILE).exists():
        damage = [p.removesuffix("; the run is left out") for p in run.problems if p.startswith("summary")]
        damage = damage or ["summary.json cannot be read"]
    usable = summary if summary is not None and not damage else {}
    model = usable.get("model") or "-"
    row = {
        "run": str(path),
        "scenario": usable.get("scenario", cfg.get("scenario")),
        "experiment": usable.get("experiment", cfg.get("experiment")),
        "model": model,
        "model_id": usable.get("model_id") or model,
        "agents": _agent_mix(usable.get("agents") or _config_seats(cfg)),
        "institutions": _institutions(cfg),
        "seed": usable.get("seed", cfg.get("seed")),
        "months": cfg.get("months") if isinstance(cfg.get("months"), int) else None,
        "finished": bool(usable),
        "problems": "; ".join(run.problems),
    }
    if damage:
        row.update(status=DAMAGED, reason="; ".join(damage))
    elif not usable:
        row.update(status=UNFINISHED, reason="unfinished (no summary.json yet)")
    elif usable.get("valid", True) is False:
        row.update(status=INVALID, reason=f"invalid: {usable.get('invalid_reason') or 'no reason given'}")
    else:
        row.update(status=OK, reason="")
    row.update({k: config_value(cfg, k) for k in keys if k not in row})
    metrics, counts = usable.get("metrics", {}), dict(usable.get("counters", {}))
    if usable and "decisions" not in counts:  # summaries before the counter existed
        counts["decisions"] = counters(run.events)["decisions"]
    row.update({k: metrics.get(k) for k in (*METRICS, *VARIANTS, *INSTITUTION_TABLE_METRICS)})
    row.update({k: counts.get(k, 0) for k in COUNTERS})
    row.update({k: counts.get(k) for k in INSTITUTION_COUNTERS})  # None: the run had no such institution
    return row


def _institutions(cfg: dict[str, Any]) -> str:
    names = cfg.get("institutions")
    return institutions_label([str(n) for n in names]) if isinstance(names, list) else institutions_label([])


def _config_seats(cfg: dict[str, Any]) -> dict[str, Any]:
    seats = cfg.get("agents")
    if not isinstance(seats, list):
        return {}
    return {str(s.get("name", i)): s.get("type") for i, s in enumerate(seats) if isinstance(s, dict)}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _summary_problems(summary: dict[str, Any]) -> list[str]:
    """What in a summary.json a report cannot use (empty: all of it can)."""
    found = []
    metrics, counts = summary.get("metrics"), summary.get("counters")
    for name, part in (("metrics", metrics), ("counters", counts)):
        if not isinstance(part, dict):
            found.append(f"summary.json: {name} should be a mapping, got {type(part).__name__}")
    if isinstance(metrics, dict):
        for key in METRICS:
            if key not in metrics:
                found.append(f"summary.json: metrics.{key} is missing")
        for key in (k for k in (*METRICS, *VARIANTS) if k in metrics):
            value = metrics[key]
            ok = isinstance(value, bool) if key == "survived" else _number(value)
            if not ok:
                want = "true or false" if key == "survived" else "a number"
                found.append(f"summary.json: metrics.{key} should be {want}, got {json.dumps(value)[:40]}")
    if isinstance(counts, dict):
        found += [
            f"summary.json: counters.{k} should be a whole number, got {json.dumps(v)[:40]}"
            for k, v in counts.items() if isinstance(v, bool) or not isinstance(v, int)
        ]
    for key, kinds, want in (
        ("valid", (bool,), "true or false"), ("agents", (dict,), "a mapping"), ("seed", (int,), "a whole number"),
        ("scenario", (str,), "a name"), ("experiment", (str,), "a name"), ("model", (str, type(None)), "a name or null"),
        ("model_id", (str, type(None)), "a string or null"),
    ):
        if key in summary and not isinstance(summary[key], kinds):
            found.append(f"summary.json: {key} should be {want}, got {json.dumps(summary[key])[:40]}")
    return found


def left_out(frame: pd.DataFrame) -> list[str]:
    """One line per reason a run is not in the table, and per shown run with damaged events."""
    if frame.empty:
        return []
    lines = []
    unfinished = int((frame["status"] == UNFINISHED).sum())
    if unfinished:
        lines.append(f"{unfinished} unfinished run(s) left out of the table")
    invalid = frame[frame["status"] == INVALID]
    for reason, group in invalid.groupby("reason", sort=True):
        lines.append(f"{len(group)} invalid run(s) left out of the table ({reason})")
    for row in frame[frame["status"] == DAMAGED].itertuples():
        lines.append(f"left out {row.run}: {row.reason}")
    for row in frame[(frame["status"] == OK) & (frame["problems"] != "")].itertuples():
        lines.append(f"problems in {row.run}: {row.problems}")
    return lines


def config_value(config: dict[str, Any], dotted: str) -> Any:
    """A run config's value at ``a.b.c`` (lists and mappings as JSON text, so they group)."""
    node: Any = config
    for part in dotted.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return json.dumps(node, sort_keys=True) if isinstance(node, (dict, list)) else node


def _agent_mix(seats: dict[str, str | None]) -> str:
    counts: dict[str, int] = {}
    for kind in seats.values():
        counts[str(kind)] = counts.get(str(kind), 0) + 1
    return ",".join(f"{kind}*{n}" if n > 1 else kind for kind, n in counts.items())


def _clip(value: float, low: float, high: float) -> float:
    return value if math.isnan(value) else float(min(max(value, low), high))


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (nan below 2 values: no interval)."""
    values = values.dropna().astype(float)
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values.iloc[0]), math.nan
    return float(values.mean()), float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def mean_interval(values: pd.Series, low: float = -math.inf, high: float = math.inf) -> tuple[float, float, float]:
    """Mean and its 95 % t-interval clipped to [low, high] (nan bounds below 2 values)."""
    mean, half = mean_ci(values)
    return mean, _clip(mean - half, low, high), _clip(mean + half, low, high)


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """Wilson's 95 % score interval of a proportion (in [0, 1]); no interval (nan) below 2 trials."""
    if trials < 2:
        return math.nan, math.nan
    ci = stats.binomtest(int(successes), int(trials)).proportion_ci(0.95, method="wilson")
    return _clip(ci.low, 0.0, 1.0), _clip(ci.high, 0.0, 1.0)


def shown_keys(done: pd.DataFrame, by: list[str]) -> list[str]:
    """The grouping keys less those holding their quiet default in every run (they split no group)."""
    return [k for k in by if not (k in QUIET_DEFAULTS and (done[k] == QUIET_DEFAULTS[k]).all())]


def summary_table(frame: pd.DataFrame, by: Iterable[str] = REPORT_KEYS) -> pd.DataFrame:
    """Per group of ok runs: runs, each metric's mean with ``_low``/``_high`` (its interval)
    and ``_ci`` (half the interval's width), the parse-failure rate (parse failures per
    decision) and the fallback counters."""
    by = [k for k in dict.fromkeys(by) if k in frame.columns]  # a sweep's grid may name a default key again
    done = frame[frame["status"] == OK].copy() if "status" in frame.columns else frame[frame["finished"]].copy()
    if done.empty:
        return pd.DataFrame(columns=[*by, "runs"])
    by = shown_keys(done, by)
    done["survival_rate"] = done["survived"].astype(bool).astype(float) * 100
    rows = []
    for key, group in done.groupby(by, dropna=False, sort=True):
        row: dict[str, Any] = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row["runs"] = len(group)
        longest = float(group["months"].max()) if "months" in group and group["months"].notna().any() else math.inf
        present = [m for m in INSTITUTION_TABLE_METRICS if m in done.columns and done[m].notna().any()]
        for metric in (m for m in (*TABLE_METRICS, *present) if m in group.columns):
            if metric == "survival_rate":
                low, high = wilson(int(group["survived"].astype(bool).sum()), len(group))
                mean, low, high = float(group[metric].mean()), 100 * low, 100 * high
            else:
                lo, hi = RANGES[metric]
                mean, low, high = mean_interval(group[metric], lo, longest if hi is None else hi)
            row.update({metric: mean, f"{metric}_low": low, f"{metric}_high": high, f"{metric}_ci": (high - low) / 2})
        decisions = int(group["decisions"].sum())
        row["parse_failure_rate"] = float(group["parse_failures"].sum() / decisions) if decisions else math.nan
        for counter in ("parse_failures", "fallbacks", "invalid_actions", "agent_errors", "llm_calls", "decisions"):
            row[counter] = int(group[counter].sum())
        for counter in (c for c in INSTITUTION_COUNTERS if c in done.columns and done[c].notna().any()):
            row[counter] = int(group[counter].fillna(0).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(mean: float, low: float | None = None, high: float | None = None, pm: float | None = None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "nan ± nan" if pm is not None else "-"
    if pm is not None:
        return f"{mean:.2f} ± {'n/a' if math.isnan(pm) else f'{pm:.2f}'}"
    if low is None or math.isnan(low):
        return f"{mean:.2f} [n/a]"
    return f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def to_markdown(table: pd.DataFrame) -> str:
    """The table with each metric as ``mean [low, high]`` (``[n/a]`` for one run), or as
    ``mean ± ci`` for a table that only has ``_ci`` columns (the Re-ReST summary)."""
    if table.empty:
        return "(no finished runs)"
    shown = pd.DataFrame()
    for col in table.columns:
        if col.endswith(("_ci", "_low", "_high")) or _same_as_paper(table, col):
            continue
        if f"{col}_low" in table.columns:
            shown[col] = [_cell(m, lo, hi) for m, lo, hi in zip(table[col], table[f"{col}_low"], table[f"{col}_high"])]
        elif f"{col}_ci" in table.columns:
            shown[col] = [_cell(m, pm=c) for m, c in zip(table[col], table[f"{col}_ci"])]
        elif col == "parse_failure_rate":
            shown[col] = ["n/a" if math.isnan(v) else f"{v:.1%}" for v in table[col]]
        else:
            shown[col] = table[col].astype(str)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _same_as_paper(table: pd.DataFrame, col: str) -> bool:
    """A variant column equal to its paper metric in every row (default 12-month runs), or
    empty (summaries from before the variants)."""
    base = VARIANT_OF.get(col)
    if base not in table.columns:
        return False
    return bool(table[col].isna().all() or np.allclose(table[col], table[base], equal_nan=True))


def group_label(key: Any) -> str:
    """A groupby key as one label, e.g. ``fishery / default / - / conditional*5``."""
    return " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))


def km_curves(frame: pd.DataFrame, by: Iterable[str] = REPORT_KEYS) -> pd.DataFrame:
    """Kaplan–Meier survival of the commons per group, month by month (ok runs).

    A run is an observed collapse at its ``survival_time``, or censored there when it
    survived. Returns columns ``group`` (``group_label``), ``month`` (0 to the longest
    run), ``survival`` and its 95 % CI ``ci_low``/``ci_high`` (exponential Greenwood).
    """
    from lifelines import KaplanMeierFitter

    columns = ["group", "month", "survival", "ci_low", "ci_high"]
    by = [k for k in dict.fromkeys(by) if k in frame.columns]
    done = frame[frame["finished"]] if "finished" in frame.columns else frame
    if "status" in done.columns:
        done = done[done["status"] == OK]
    if done.empty:
        return pd.DataFrame(columns=columns)
    by = shown_keys(done, by)
    parts = []
    for key, group in done.groupby(by, dropna=False, sort=True):
        durations = group["survival_time"].astype(float)
        months = np.arange(0, int(durations.max()) + 1)
        fitter = KaplanMeierFitter().fit(durations, ~group["survived"].astype(bool), timeline=months)
        ci = fitter.confidence_interval_survival_function_
        parts.append(
            pd.DataFrame(
                {
                    "group": group_label(key),
                    "month": months,
                    "survival": fitter.survival_function_.iloc[:, 0].to_numpy(),
                    "ci_low": ci.iloc[:, 0].to_numpy(),
                    "ci_high": ci.iloc[:, 1].to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[columns]


# ---------------------------------------------------------------------------- the paper's numbers


def _published(name: str) -> list[dict[str, str]]:
    text = resources.files("govsim").joinpath("published", name).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def _norm(name: str) -> str:
    return name.strip().rstrip("/").lower()


def paper_models() -> dict[str, str]:
    """Every name the comparison accepts (lower case) -> the paper's model label.

    A label matches itself, each of its model names (``published/models.csv``) and each
    name's last path part, so a local folder named like the hub model matches too.
    """
    names: dict[str, str] = {}
    for row in _published("models.csv"):
        label = row["label"]
        for name in [label, *filter(None, row["names"].split(";"))]:
            names[_norm(name)] = label
            names[_norm(name).rsplit("/", 1)[-1]] = label
    return names


def paper_label(model: str) -> str:
    """The paper's label of a model name; ValueError (one line, the known labels) if none."""
    names = paper_models()
    for candidate in (_norm(model), _norm(model).rsplit("/", 1)[-1]):
        if candidate in names:
            return names[candidate]
    known = ", ".join(dict.fromkeys(names.values()))
    raise ValueError(f"{model!r} is not a model of the paper; known: {known}")


def published_rows(label: str) -> list[dict[str, str]]:
    """The transcribed table rows of one model (``published/tables.csv``)."""
    return [row for row in _published("tables.csv") if row["model"] == label]


def compare_table(table: pd.DataFrame, model: str) -> pd.DataFrame:
    """Each group of ``summary_table`` (as text) above the paper's row of the same model,
    experiment and scenario, or a note that the paper has none transcribed."""
    label = paper_label(model)
    rows = published_rows(label)
    out = []
    keys = [k for k in table.columns if k in (*REPORT_KEYS, "network")] if not table.empty else []
    for group in table.to_dict("records"):
        ours = {k: group[k] for k in keys}
        ours.update(source="govsim", runs=str(group["runs"]))
        ours.update({m: _cell(group[m], group.get(f"{m}_low"), group.get(f"{m}_high")) for m in PAPER_METRICS})
        out.append(ours)
        match = [r for r in rows if r["experiment"] == group.get("experiment") and r["scenario"] == group.get("scenario")]
        paper = {k: group[k] if k in ("scenario", "experiment") else "" for k in keys} | {"model_id": label}
        if not match:
            out.append({**paper, "source": "paper: no row transcribed (govsim/published/README.md)"})
            continue
        for r in match:
            paper.update(source=f"paper {r['source']} {r['table']}", runs=r.get("runs") or "-")
            paper.update({m: _published_cell(r, m) for m in PAPER_METRICS})
            out.append(dict(paper))
    return pd.DataFrame(out).fillna("")


def _published_cell(row: dict[str, str], metric: str) -> str:
    mean, pm = row.get(metric) or "", row.get(f"{metric}_pm") or ""
    if not mean:
        return "-"
    return f"{float(mean):.2f} ± {float(pm):.2f}" if pm else f"{float(mean):.2f}"
