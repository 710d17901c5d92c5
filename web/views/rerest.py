"""Re-ReST: the self-training summary (``rerest_summary.csv``) as a table and as curves of
each metric over iterations, one line per method (base, self_training, rerest).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from web import charts, data, ui


def render() -> None:
    st.title("Re-ReST")
    where = Path(st.text_input("Re-ReST output folder (or its CSV)", value=str(ui.root()), key="rerest_dir")).expanduser()
    files = data.find_rerest(where)
    if not files:
        st.info(f"No {data.REREST_FILE} under {where}. Re-ReST writes one into its output folder.")
        return
    path = st.selectbox("Summary", files, format_func=lambda p: data.relative(p, where) if where.is_dir() else str(p),
                        key="rerest_file")
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
