"""Re-ReST: the self-training summary (``rerest_summary.csv``) as a table and as curves of
each metric over iterations, one line per method (base, self_training, rerest).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

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
    if where.is_file() and where.name != data.REREST_FILE:
        st.error(f"{typed} is not a {data.REREST_FILE}: give a Re-ReST output folder or the {data.REREST_FILE} in it.")
        return []
    files, outside = paths.rerest_files(where, ui.base())
    if outside:
        st.warning(f"{len(outside)} {data.REREST_FILE} under {where} link outside {ui.base()} and are not read: "
                   + ", ".join(data.relative(p, where) for p in outside))
    if not files:
        st.info(f"No {data.REREST_FILE} under {where}. Re-ReST writes one into its output folder.")
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
    metrics = [m for m in data.REREST_METRICS if m in frame.columns and frame[m].notna().any()]
    if "iteration" not in frame.columns or "method" not in frame.columns or not metrics:
        st.info("Curves need the iteration and method columns and at least one metric.")
        return
    st.subheader("Metrics over iterations")
    for i in range(0, len(metrics), 2):
        for col, metric in zip(st.columns(2), metrics[i: i + 2]):
            with col:
                st.markdown(f"**{metric.replace('_', ' ')}**")
                st.plotly_chart(charts.rerest_figure(frame, metric))


if __name__ == "__main__":
    ui.guarded(render)
