"""Streamlit pieces every page shares: the run root, cached loading (a run, and the tables,
decision traces, charts and group curves derived from it, each until the run's files
change), the run picker, problem warnings and the guard that turns an unexpected error
into one line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from govsim.runlog import CONFIG_FILE, EVENTS_FILE, SUMMARY_FILE, RunData, find_runs
from web import charts, data, decisions, groups, paths

ROOT_ENV = "GOVSIM_RUNS"  # set by `govsim dashboard DIR`
log = logging.getLogger("govsim.web")


def default_root() -> str:
    """The run root: ``-- --root DIR`` after ``streamlit run web/app.py``, else $GOVSIM_RUNS, else runs/."""
    args = sys.argv[1:]
    if "--root" in args and args.index("--root") + 1 < len(args):
        return args[args.index("--root") + 1]
    return os.environ.get(ROOT_ENV) or "runs"


def base() -> Path:
    """The folder the dashboard was started on: nothing outside it is read."""
    return Path(default_root()).expanduser().resolve()


def root() -> Path:
    """The folder the sidebar names, resolved inside the base; ``paths.Refused`` when it is not."""
    return paths.under(st.session_state.get("root") or str(base()), base())


def guarded(render: Callable[[], None]) -> None:
    """Run a page body; an unexpected error becomes one st.error line, never a traceback.

    Streamlit's own control flow (st.rerun, st.switch_page, st.stop) raises BaseException
    subclasses, which pass through untouched.
    """
    try:
        render()
    except Exception as exc:  # the page must stay usable whatever a run log holds
        log.exception("dashboard page failed")
        st.error(f"This part of the page could not be shown: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------- loading


def _stamp(path: Path) -> tuple:
    """What changes when a run directory changes (sizes and modification times)."""
    stamp = []
    for name in (EVENTS_FILE, SUMMARY_FILE, CONFIG_FILE):
        try:
            st_ = (path / name).stat()
            stamp.append((name, st_.st_size, st_.st_mtime_ns))
        except OSError:
            stamp.append((name, None, None))
    return tuple(stamp)


@st.cache_resource(max_entries=64, show_spinner=False)
def _read(path: str, stamp: tuple, base_dir: str) -> RunData:
    # cache_resource shares one RunData instead of copying it on every rerun; pages only read it.
    return paths.read_inside(path, Path(base_dir))


def load_run(path: str | Path) -> RunData:
    """read_run (refused for a run linking out of the base), cached until one of the run's files changes."""
    return _read(str(path), _stamp(Path(path)), str(base()))


@st.cache_resource(max_entries=16, show_spinner=False)
def _traces(path: str, stamp: tuple, base_dir: str) -> decisions.Traces:
    return decisions.link(_read(path, stamp, base_dir).events)


def traces(path: str | Path) -> decisions.Traces:
    """``web.decisions.link`` of a run's events, cached like the run itself."""
    return _traces(str(path), _stamp(Path(path)), str(base()))


def _calls(events: list, traces: decisions.Traces) -> pd.DataFrame:
    calls = data.llm_frame(events)
    calls.insert(calls.columns.get_loc("purpose") + 1, "decision",
                 [decisions.label(traces.owner.get(seq)) for seq in calls["seq"]])
    return calls


# The tables of one run the pages derive from its events: built once per change of the run.
TABLES: dict[str, Callable[[RunData, decisions.Traces], pd.DataFrame]] = {
    "months": lambda run, _: data.month_frame(run.events),
    "harvests": lambda run, _: data.harvest_frame(run.events),
    "calls": lambda run, tr: _calls(run.events, tr),
    "issues": lambda run, _: data.issues_frame(run.events),
    "memories": lambda run, _: data.notes_frame(run.events, "memory"),
    "insights": lambda run, _: data.notes_frame(run.events, "insight"),
}


@st.cache_data(max_entries=64, show_spinner=False)
def _table(name: str, path: str, stamp: tuple, base_dir: str) -> pd.DataFrame:
    return TABLES[name](_read(path, stamp, base_dir), _traces(path, stamp, base_dir))


def table(name: str, path: str | Path) -> pd.DataFrame:
    """One of ``TABLES`` for a run, cached until the run's files change (each caller gets its own copy)."""
    return _table(name, str(path), _stamp(Path(path)), str(base()))


@st.cache_data(max_entries=8, show_spinner=False)
def _runs(root_dir: str, stamps: tuple) -> pd.DataFrame:
    frame = data.runs_table(root_dir, load=load_run)
    if not frame.empty:
        latest = {path: max(mtime or 0 for _, _, mtime in stamp) for path, stamp in stamps}
        frame["updated"] = pd.to_datetime([latest.get(path, 0) for path in frame["run"]], unit="ns")
    return frame


def runs(root_dir: Path) -> pd.DataFrame:
    """Every run under the root (``web.data.runs_table`` plus when each last changed),
    cached until a run changes."""
    if not root_dir.is_dir():
        return pd.DataFrame()
    return _runs(str(root_dir), tuple((str(p), _stamp(p)) for p in find_runs(root_dir)))


@st.cache_resource(max_entries=16, show_spinner=False)
def _figures(path: str, stamp: tuple, base_dir: str) -> dict[str, go.Figure]:
    run = _read(path, stamp, base_dir)
    months, harvests = data.month_frame(run.events), data.harvest_frame(run.events)
    cfg = run.config or {}
    figures = {"stock": charts.stock_figure(months, float(cfg.get("collapse_below", 5)), cfg.get("capacity")),
               "limits": charts.limits_figure(months)}
    if not harvests.empty:
        figures.update(harvests=charts.harvest_figure(harvests), totals=charts.totals_figure(harvests))
    return figures


def figures(path: str | Path) -> dict[str, go.Figure]:
    """The Run page's charts of a run (stock, limits, and, when it has harvests, harvests and
    totals), built once per change of the run: building them takes longer than drawing them.
    ``st.plotly_chart`` copies a figure before sending it, so one figure serves every rerun."""
    return _figures(str(path), _stamp(Path(path)), str(base()))


@st.cache_data(max_entries=16, show_spinner=False)
def _group_bands(members: tuple, stamps: tuple, base_dir: str) -> pd.DataFrame:
    frame = pd.DataFrame(list(members), columns=["group", "run"])
    return groups.group_bands(frame, lambda path: _read(path, stamps[path], base_dir))


def group_bands(frame: pd.DataFrame) -> pd.DataFrame:
    """``web.groups.group_bands`` of runs (a ``group`` and a ``run`` column), cached until one of them changes."""
    members = tuple(zip(frame["group"], frame["run"]))
    return _group_bands(members, {path: _stamp(Path(path)) for _, path in members}, str(base()))


# ---------------------------------------------------------------------------- widgets


def folder() -> Path | None:
    """The chosen run folder, or None after saying in one line why it is refused."""
    try:
        return root()
    except paths.Refused as exc:
        st.error(str(exc))
        return None


def page(title: str) -> pd.DataFrame | None:
    """A runs page's head: its title, then the runs under the root, or None (and a hint
    where to find or make some, or why the folder is refused) when there are none."""
    st.title(title)
    root_dir = folder()
    if root_dir is None:
        return None
    frame = runs(root_dir)
    if frame.empty:
        no_runs(root_dir)
        return None
    return frame


def no_runs(root_dir: Path) -> None:
    if not root_dir.exists():
        st.info(f"The folder {root_dir} does not exist. Choose a run folder in the sidebar.")
    else:
        st.info(f"No runs under {root_dir} yet. Start some with `govsim run --seeds 0-4 --out {root_dir}/demo`.")


def pick_run(frame: pd.DataFrame, key: str, label: str = "Run", prefer: str | None = None) -> Path:
    """A run picker shared across pages: the choice follows the user from page to page.

    The first choice is the ``?run=`` query parameter, then the run picked on another
    page, then ``prefer``, then the first run.
    """
    names = list(frame["name"])
    wanted = st.query_params.get("run") or st.session_state.get("selected_run") or prefer
    index = names.index(wanted) if wanted in names else 0
    if st.session_state.get(key) not in names:
        st.session_state.pop(key, None)
    name = st.selectbox(label, names, index=index, key=key)
    st.session_state["selected_run"] = name
    if st.query_params.get("run") != name:
        st.query_params["run"] = name
    return Path(frame.loc[frame["name"] == name, "run"].iloc[0])


def describe(run: RunData) -> str:
    """One line naming a run: scenario · experiment · agents · seed · model."""
    who = data.identity(run)
    mix = ", ".join(f"{n} ({t})" for n, t in who["agents"].items()) or "agents unknown"
    model = who["model_id"] or who["model"] or "scripted agents"  # model_id also names the backend
    return f"{who['scenario'] or '?'} · {who['experiment'] or '?'} · seed {who['seed']} · {model} · {mix}"


def show_problems(run: RunData) -> None:
    """Say plainly what is missing or broken in a run's log; what is valid is still shown."""
    found = data.problems(run)
    if not found:
        return
    kind = data.status(run)
    head = {
        data.UNFINISHED: "This run is unfinished (still running, or killed): showing the months logged so far.",
        data.DAMAGED: "This run's log is damaged: showing what is valid.",
        data.INVALID: "This run is invalid (reports leave it out): showing what it logged.",
    }.get(kind, "This run's log has problems: showing what is valid.")
    st.warning(head + "\n\n" + "\n".join(f"- {p}" for p in found))


def plain(text: str) -> str:
    """Text from a log shown literally inside markdown (no accidental headings, math or links)."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|$<>~" else c for c in str(text)).replace("\n", " ")


def list_runs(frame: pd.DataFrame, head: str) -> None:
    """A warning, then, folded under it, a table of the runs it is about: name, status and every problem."""
    if frame.empty:
        return
    st.warning(head)
    with st.expander(f"Which runs, and why ({len(frame)})"):
        st.dataframe(frame[["name", "status", "problems"]], hide_index=True,
                     column_config={"problems": st.column_config.TextColumn(width="large")})


def sidebar() -> None:
    """The run-folder input shown on every page."""
    if "root" not in st.session_state:
        st.session_state["root"] = str(base())
    st.sidebar.text_input(
        "Run folder", key="root",
        help=f"A folder under {base()} holding run directories (searched recursively); relative paths start there.",
    )
