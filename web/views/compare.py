"""Compare: a sweep folder or chosen runs side by side: the paper's table (mean and 95 %
interval per group, ``govsim.report.summary_table``, the paper's metrics first), stock
and catch per month across each group's runs (``web.groups``), Kaplan–Meier survival
curves per group, and metric distributions. Only healthy finished runs are compared; the others are
listed with what is wrong with each.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from govsim import report
from govsim.metrics import METRICS
from web import charts, data, groups, ui

# The report's groups (model_id, not the model's name: a fake-backend run never pools with
# a real one), and what else makes a different experiment: the profile (paper or
# improved), the month's institutions (an election, sanctions) and the months planned.
GROUP_KEYS = (*report.GROUP_KEYS, "profile", "institutions", "horizon")
TABLE_FORMATS = {
    "runs": st.column_config.NumberColumn(format="%d"),
    **{m: st.column_config.NumberColumn(format="%.2f") for m in report.TABLE_METRICS},
    **{f"{m}_ci": st.column_config.TextColumn(f"{m} 95 % interval") for m in report.TABLE_METRICS},
    "parse_failure_rate": st.column_config.NumberColumn(format="percent", help="parse failures per decision"),
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
    keys = [k for k in (*GROUP_KEYS, "model", "seed") if k in chosen.columns]
    by = st.multiselect("Group by", keys, default=list(GROUP_KEYS), key="compare_by")
    healthy = chosen[chosen["status"] == data.FINISHED]
    ui.list_runs(chosen[chosen["status"] != data.FINISHED],
                 f"{len(chosen) - len(healthy)} of {len(chosen)} runs are unfinished, stopped or damaged: "
                 "they are left out of the table and the curves.")
    if healthy.empty:
        st.info("None of these runs has finished cleanly: there is nothing to compare yet.")
        return
    finished, keys = data.with_groups(healthy, by)
    st.subheader("Metrics per group (mean and 95 % interval)")
    runs = data.report_frame(finished)
    by_group = list(dict.fromkeys(["group", *keys]))  # the same groups, labelled
    table = report.summary_table(runs, by=by_group)
    shown = data.with_interval_text(table)
    order = groups.paper_first(shown.columns, keys, report.PAPER_METRICS)
    # Only the group's label is pinned: pinned key columns filled a narrow window and hid the metrics.
    st.dataframe(shown, hide_index=True, column_order=order,
                 column_config={**TABLE_FORMATS, "group": st.column_config.TextColumn(pinned=True, width="medium")})
    st.caption("The paper's metrics first. Survival rate: Wilson interval; other metrics: t-interval clipped to the "
               "metric's range; n/a for a group of one run. Runs are grouped by model_id (the model and its backend), "
               "so a fake-backend run never pools with a real one.")
    with st.expander("As markdown (for a paper or a README)"):
        st.code(report.to_markdown(table if keys == ["group"] else table.drop(columns="group")), language="markdown")
    st.subheader("Stock and catch per month (mean and 95 % band per group)")
    bands = ui.group_bands(finished)
    left, right = st.columns(2)
    for col, series in zip((left, right), groups.SERIES):
        with col:
            st.markdown(f"**{groups.SERIES[series].capitalize()}**")
            st.plotly_chart(charts.band_figure(bands, series, groups.SERIES[series]))
    st.caption("Each month averages every run of the group: a run that collapsed counts as an empty commons "
               "(stock 0, nothing caught) in the months after; no band for a group of one run.")
    left, right = st.columns(2)
    with left:
        st.subheader("Survival (Kaplan–Meier)")
        sizes = finished["group"].value_counts().to_dict()
        st.plotly_chart(charts.km_figure(report.km_curves(runs, by=["group"]), sizes))
        st.caption("A collapse is the event; runs that survived every month are censored at the last month.")
    with right:
        st.subheader("Distribution per group")
        metric = st.selectbox("Metric", [m for m in METRICS if m != "survived"], key="compare_metric")
        st.plotly_chart(charts.distribution_figure(finished, metric))


if __name__ == "__main__":
    ui.guarded(render)
