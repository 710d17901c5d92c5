"""Re-ReST: the self-training summary (``rerest_summary.csv``) as a table and as curves of
each metric over iterations, one line per method (base, self_training, rerest); and, when
``rerest_losses.csv`` lies beside it, each adapter's training and held-out loss per epoch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from govsim.rerest.results import CHARTED, LOSS_COLUMNS, LOSSES_FILE, SUMMARY_FILE
from web import charts, data, paths, ui


def _summaries() -> list[Path]:
    """The summaries at the folder or file the user typed (inside the dashboard's folder),
    after a line on the page for whatever is refused or missing."""
    start = ui.folder()
    if start is None:
        return []
    typed = st.text_input("Re-ReST output folder (or its CSV)", value=str(start), key="rerest_dir")
    try:
        where = paths.under(typed, ui.base())
    except paths.Refused as exc:
        st.error(str(exc))
        return []
    if where.is_file() and where.name != SUMMARY_FILE:
        st.error(f"{typed} is not a {SUMMARY_FILE}: give a Re-ReST output folder or the {SUMMARY_FILE} in it.")
        return []
    files, outside = paths.rerest_files(where, ui.base())
    if outside:
        st.warning(f"{len(outside)} {SUMMARY_FILE} under {where} link outside {ui.base()} and are not read: "
                   + ", ".join(data.relative(p, where) for p in outside))
    if not files:
        st.info(f"No {SUMMARY_FILE} under {where}. Re-ReST writes one into its output folder.")
    return files


def render() -> None:
    st.title("Re-ReST")
    files = _summaries()
    if not files:
        return
    path = st.selectbox("Summary", files, format_func=lambda p: data.relative(p, ui.base()), key="rerest_file")
    frame, problems = data.read_rerest(path)
    if problems:
        st.warning("This summary is incomplete: showing what is valid.\n\n" + "\n".join(f"- {p}" for p in problems))
    if frame.empty:
        st.info("The summary has no rows.")
        return
    st.dataframe(frame, hide_index=True)
    _losses(path)
    metrics = [m for m in CHARTED if m in frame.columns and frame[m].notna().any()]
    if "iteration" not in frame.columns or "method" not in frame.columns or not metrics:
        st.info("Curves need the iteration and method columns and at least one metric.")
        return
    st.subheader("Metrics over iterations")
    for i in range(0, len(metrics), 2):
        for col, metric in zip(st.columns(2), metrics[i: i + 2]):
            with col:
                st.markdown(f"**{metric.replace('_', ' ')}**")
                st.plotly_chart(charts.rerest_figure(frame, metric))


def _losses(summary: Path) -> None:
    """Training loss per epoch and held-out loss (epoch 0: before training) of every adapter."""
    path = summary.with_name(LOSSES_FILE)
    if not path.is_file() or not paths.inside(path, ui.base()):
        return
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        st.warning(f"{LOSSES_FILE} is unreadable ({exc})")
        return
    needed = set(LOSS_COLUMNS)
    if frame.empty or not needed <= set(frame.columns):
        st.warning(f"{LOSSES_FILE} lacks rows or the columns {', '.join(sorted(needed))}")
        return
    st.subheader("Losses per epoch")
    frame["run"] = "iteration " + frame["iteration"].astype(str) + " " + frame["adapter"].astype(str)
    long = frame.melt(id_vars=["run", "epoch"], value_vars=["train_loss", "heldout_loss"], var_name="loss").dropna()
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    st.plotly_chart(px.line(long.dropna(), x="epoch", y="value", color="run", line_dash="loss", markers=True))
    st.dataframe(frame.drop(columns="run"), hide_index=True)


if __name__ == "__main__":
    ui.guarded(render)
