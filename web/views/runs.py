"""Runs: every run under the run folder, with status and key metrics; filter, sort, open."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from web import data, ui

COLUMNS = [
    "name", "status", "scenario", "experiment", "model", "model_id", "agents", "seed", "months", "survived", "gain",
    "efficiency", "equality", "over_usage", "parse_failures", "fallbacks", "invalid_actions", "agent_errors",
    "llm_calls", "updated", "problems",
]
FORMATS = {
    "name": st.column_config.TextColumn("run", width="medium"),
    "seed": st.column_config.NumberColumn(format="%d"),
    "months": st.column_config.NumberColumn("months", help="survival time, or months logged so far", format="%d"),
    "survived": st.column_config.CheckboxColumn(),
    "gain": st.column_config.NumberColumn(format="%.1f"),
    "efficiency": st.column_config.NumberColumn(format="%.2f"),
    "equality": st.column_config.NumberColumn(format="%.2f"),
    "over_usage": st.column_config.NumberColumn("over-usage %", format="%.1f"),
    "updated": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
    "problems": st.column_config.TextColumn(width="large"),
}


def _filtered(frame: pd.DataFrame) -> pd.DataFrame:
    cols = st.columns([2, 1, 1, 1, 1])
    text = cols[0].text_input("Search", placeholder="any part of a run's name, agents or problems", key="runs_search")
    picks = {
        key: cols[i].multiselect(key.capitalize(), sorted(frame[key].dropna().astype(str).unique()), key=f"runs_{key}")
        for i, key in enumerate(["status", "scenario", "experiment", "agents"], start=1)
    }
    keep = pd.Series(True, index=frame.index)
    for key, chosen in picks.items():
        if chosen:
            keep &= frame[key].astype(str).isin(chosen)
    if text:
        haystack = frame[["name", "agents", "model", "problems"]].astype(str).agg(" ".join, axis=1)
        keep &= haystack.str.contains(text, case=False, regex=False)
    return frame[keep]


def render() -> None:
    frame = ui.page("Runs")
    if frame is None:
        return
    counts = frame["status"].value_counts()
    cols = st.columns(1 + len(data.STATUSES))
    cols[0].metric("Runs", len(frame))
    for col, status in zip(cols[1:], data.STATUSES):
        col.metric(status.capitalize(), int(counts.get(status, 0)))
    if counts.get(data.DAMAGED, 0):
        st.warning(f"{int(counts[data.DAMAGED])} run(s) have damaged logs; the problems column says what is wrong.")
    if counts.get(data.INVALID, 0):
        st.warning(f"{int(counts[data.INVALID])} run(s) were stopped because their LLM calls kept failing; "
                   "reports leave them out.")
    shown = _filtered(frame)
    st.caption(f"{len(shown)} of {len(frame)} runs under {ui.root()} (the sidebar, » at the top left, changes the "
               "folder). Click a column header to sort; select a row to open it.")
    selection = st.dataframe(
        shown[COLUMNS], hide_index=True, column_config=FORMATS, on_select="rerun", selection_mode="single-row",
        key="runs_table",
    )
    rows = selection.selection.rows if selection else []
    if rows:
        name = shown.iloc[rows[0]]["name"]
        st.session_state["selected_run"] = name
        st.query_params["run"] = name
        cols = st.columns(3)
        for col, (label, page) in zip(cols, [("Open run", "views/run.py"), ("Conversation graph", "views/network.py"),
                                              ("Follow live", "views/live.py")]):
            if col.button(f"{label}: {name}", width="stretch"):
                st.switch_page(page, query_params={"run": name})


if __name__ == "__main__":
    ui.guarded(render)
