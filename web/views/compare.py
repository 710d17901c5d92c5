"""Compare: a sweep folder or chosen runs side by side: the paper's table (mean ± 95 % CI,
``govsim.report``), Kaplan–Meier survival curves per group, and metric distributions.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from govsim.metrics import METRICS
from govsim.report import GROUP_KEYS, km_curves, summary_table, to_markdown
from web import charts, data, ui

TABLE_FORMATS = {
    "runs": st.column_config.NumberColumn(format="%d"),
    **{c: st.column_config.NumberColumn(format="%.2f") for m in (*METRICS, "survival_rate") for c in (m, f"{m}_ci")},
    "parse_failure_rate": st.column_config.NumberColumn(format="percent"),
}


def _chosen(frame: pd.DataFrame) -> pd.DataFrame:
    how = st.radio("Compare", ["a sweep folder", "chosen runs"], horizontal=True, key="compare_how")
    if how == "a sweep folder":
        folders = data.sweep_dirs(frame["name"])
        folder = st.selectbox("Folder", folders, key="compare_folder",
                              format_func=lambda f: "all runs" if f == "." else f)
        return frame[data.in_dir(frame["name"], folder)]
    names = st.multiselect("Runs", list(frame["name"]), key="compare_runs")
    return frame[frame["name"].isin(names)]


def render() -> None:
    frame = ui.page("Compare")
    if frame is None:
        return
    chosen = _chosen(frame)
    if chosen.empty:
        st.info("Pick a folder or some runs to compare.")
        return
    keys = [k for k in (*GROUP_KEYS, "seed") if k in chosen.columns]
    by = st.multiselect("Group by", keys, default=list(GROUP_KEYS), key="compare_by")
    unfinished = int((~chosen["finished"]).sum())
    if unfinished:
        st.warning(f"{unfinished} of {len(chosen)} runs are unfinished or damaged without a summary: "
                   "they are left out of the table and the curves.")
    if not chosen["finished"].any():
        st.info("None of these runs has finished: there is nothing to compare yet.")
        return
    finished, keys = data.with_groups(chosen[chosen["finished"]], by)
    st.subheader("Metrics per group (mean ± 95 % CI)")
    table = summary_table(finished, by=keys)
    pinned = {k: st.column_config.Column(pinned=True) for k in keys}
    st.dataframe(table, hide_index=True, column_config={**TABLE_FORMATS, **pinned})
    with st.expander("As markdown (for a paper or a README)"):
        st.code(to_markdown(table), language="markdown")
    left, right = st.columns(2)
    with left:
        st.subheader("Survival (Kaplan–Meier)")
        sizes = finished["group"].value_counts().to_dict()
        st.plotly_chart(charts.km_figure(km_curves(finished, by=keys), sizes))
        st.caption("A collapse is the event; runs that survived every month are censored at the last month.")
    with right:
        st.subheader("Distribution per group")
        metric = st.selectbox("Metric", [m for m in METRICS if m != "survived"], key="compare_metric")
        st.plotly_chart(charts.distribution_figure(finished, metric))


if __name__ == "__main__":
    ui.guarded(render)
