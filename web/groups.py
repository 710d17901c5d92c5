"""Stock and harvest month by month across the runs of each Compare group (no Streamlit).

A group's curve at month m is the mean over all its runs, with the 95 % t-interval of
that mean as its band (``govsim.report.mean_interval``, clipped at 0; none for a group
of one run). A run that collapsed before month m counts there as an empty commons: stock
0, nothing caught; so every month averages the same runs, up to the most months a run of
the group planned (a run planned for fewer months, ended without a collapse, is left out
of the later ones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from govsim.report import mean_interval
from govsim.runlog import RunData
from web import data

SERIES = {"stock": "stock at the month's start", "caught": "caught in all"}
BAND_COLUMNS = ["group", "month", "runs", *(f"{s}_{part}" for s in SERIES for part in ("mean", "low", "high"))]


def run_months(run: RunData, months: int) -> pd.DataFrame:
    """One run's stock at each month's start and its total catch, months 1..``months``:
    0 and 0 after a collapse, empty after a run that ended without one (fewer months planned)."""
    frame = data.month_frame(run.events)
    logged = {int(r.month): (data.number(r.stock), data.number(r.total_caught)) for r in frame.itertuples()}
    after = (0, 0) if frame["collapsed"].fillna(False).astype(bool).any() else (None, None)
    rows = []
    for month in range(1, months + 1):
        stock, caught = logged.get(month, after)
        rows.append({"month": month, "stock": stock, "caught": caught})
    return pd.DataFrame(rows, columns=["month", "stock", "caught"]).astype({"stock": float, "caught": float})


def planned(run: RunData) -> int:
    """The months a run's config planned (0 when the config is missing or damaged)."""
    return data.as_int((run.config or {}).get("months"))


def monthly(runs: pd.DataFrame, load: Callable[[str], RunData]) -> pd.DataFrame:
    """Every run's months, labelled with its group: columns group, run, month, stock, caught.

    ``runs`` holds a ``group`` and a ``run`` (its folder) column, as ``web.data.with_groups``
    gives; each group is taken to its longest run's months.
    """
    parts = []
    for group, members in runs.groupby("group", sort=True):
        loaded = [(path, load(path)) for path in members["run"]]
        months = max((max(planned(run), data.months_played(run.events)) for _, run in loaded), default=0)
        for path, run in loaded:
            parts.append(run_months(run, months).assign(group=group, run=path))
    if not parts:
        return pd.DataFrame(columns=["group", "run", "month", "stock", "caught"])
    return pd.concat(parts, ignore_index=True)[["group", "run", "month", "stock", "caught"]]


def bands(long: pd.DataFrame) -> pd.DataFrame:
    """Per group and month: how many runs, and each series' mean with its interval."""
    rows = []
    for (group, month), here in long.groupby(["group", "month"], sort=True):
        row = {"group": group, "month": int(month), "runs": int(here["stock"].notna().sum())}
        for series in SERIES:
            mean, low, high = mean_interval(here[series], 0.0)
            row.update({f"{series}_mean": mean, f"{series}_low": low, f"{series}_high": high})
        rows.append(row)
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


def group_bands(runs: pd.DataFrame, load: Callable[[str], RunData]) -> pd.DataFrame:
    return bands(monthly(runs, load))


def paper_first(columns: Iterable[str], keys: Iterable[str], paper: Iterable[str]) -> list[str]:
    """Compare's column order: the group, runs, the paper's metrics (each with its
    interval), then everything else, the grouping keys last."""
    columns, keys = list(columns), list(keys)
    head = ["group", "runs"] + [c for m in paper for c in (m, f"{m}_ci")]
    head = [c for c in head if c in columns]
    rest = [c for c in columns if c not in head and c not in keys]
    return head + rest + [k for k in keys if k not in head]
