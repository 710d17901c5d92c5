"""Tables of metrics over runs: mean ± 95 % CI per group, as markdown or CSV, and
Kaplan–Meier survival curves per group.

Reads run directories through ``govsim.runlog`` only; a run without a summary is listed
as unfinished and left out of the means.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

import pandas as pd
from scipy import stats

from govsim.metrics import COUNTERS, METRICS
from govsim.runlog import find_runs, read_run

GROUP_KEYS = ("scenario", "experiment", "model", "agents")


def runs_frame(roots: Iterable[str | Path], keys: Iterable[str] = ()) -> pd.DataFrame:
    """One row per run found under the roots: identity, metrics, counters, status.

    ``keys`` adds a column per config key (dotted: ``regeneration.rule``, ``network``)
    with the run's value, e.g. to group a sweep by its grid.
    """
    keys = list(keys)
    rows = []
    for root in roots:
        for path in find_runs(root):
            run = read_run(path)
            summary = run.summary or {}
            cfg = run.config or {}
            row = {
                "run": str(path),
                "scenario": summary.get("scenario", cfg.get("scenario")),
                "experiment": summary.get("experiment", cfg.get("experiment")),
                "model": summary.get("model") or "-",
                "agents": _agent_mix(summary.get("agents") or {s["name"]: s.get("type") for s in cfg.get("agents") or []}),
                "seed": summary.get("seed", cfg.get("seed")),
                "finished": run.finished,
                "problems": "; ".join(run.problems if not run.finished else []),
            }
            row.update({k: config_value(cfg, k) for k in keys if k not in row})
            row.update({k: summary.get("metrics", {}).get(k) for k in METRICS})
            row.update({k: summary.get("counters", {}).get(k, 0) for k in COUNTERS})
            rows.append(row)
    return pd.DataFrame(rows)


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


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (0 for a single value)."""
    values = values.dropna().astype(float)
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values.iloc[0]), 0.0
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half)


def summary_table(frame: pd.DataFrame, by: Iterable[str] = GROUP_KEYS) -> pd.DataFrame:
    """Per group: runs, then mean and CI of each metric, and the fallback counters."""
    by = [k for k in by if k in frame.columns]
    done = frame[frame["finished"]].copy()
    if done.empty:
        return pd.DataFrame(columns=[*by, "runs"])
    done["survived"] = done["survived"].astype(float) * 100  # survival rate in %
    rows = []
    for key, group in done.groupby(by, dropna=False, sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row["runs"] = len(group)
        for metric in METRICS:
            row[metric], row[f"{metric}_ci"] = mean_ci(group[metric])
        calls = group["llm_calls"].sum()
        row["parse_failure_rate"] = float(group["parse_failures"].sum() / calls) if calls else 0.0
        for counter in ("parse_failures", "fallbacks", "invalid_actions", "agent_errors", "llm_calls"):
            row[counter] = int(group[counter].sum())
        rows.append(row)
    return pd.DataFrame(rows).rename(columns={"survived": "survival_rate", "survived_ci": "survival_rate_ci"})


def to_markdown(table: pd.DataFrame) -> str:
    """The table with each metric as 'mean ± ci'."""
    if table.empty:
        return "(no finished runs)"
    shown = pd.DataFrame()
    for col in table.columns:
        if col.endswith("_ci"):
            continue
        if f"{col}_ci" in table.columns:
            shown[col] = [f"{m:.2f} ± {c:.2f}" for m, c in zip(table[col], table[f"{col}_ci"])]
        elif col == "parse_failure_rate":
            shown[col] = [f"{v:.1%}" for v in table[col]]
        else:
            shown[col] = table[col].astype(str)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def group_label(key: Any) -> str:
    """A groupby key as one label, e.g. ``fishery / default / - / conditional*5``."""
    return " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))


def km_curves(frame: pd.DataFrame, by: Iterable[str] = GROUP_KEYS) -> pd.DataFrame:
    """Kaplan–Meier survival of the commons per group, month by month (finished runs).

    A run is an observed collapse at its ``survival_time``, or censored there when it
    survived. Returns columns ``group`` (``group_label``), ``month`` (0 to the longest
    run), ``survival`` and its 95 % CI ``ci_low``/``ci_high`` (exponential Greenwood).
    """
    from lifelines import KaplanMeierFitter

    columns = ["group", "month", "survival", "ci_low", "ci_high"]
    by = [k for k in by if k in frame.columns]
    done = frame[frame["finished"]] if "finished" in frame.columns else frame
    if done.empty:
        return pd.DataFrame(columns=columns)
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
