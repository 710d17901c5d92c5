"""Live: follow a run while it is written. The view re-reads the run's events every few
seconds (an ``st.fragment`` with ``run_every``) and shows the latest month, the stock so
far and the latest things said.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from web import charts, data, ui

EVENTS_SHOWN, UTTERANCES_SHOWN = 15, 6


def live_view(path: Path) -> None:
    run = ui.load_run(path)
    kind = data.status(run)
    cols = st.columns(4)
    cols[0].metric("Status", kind)
    cols[1].metric("Month", data.months_played(run.events) or "–")
    stock = data.latest_stock(run.events)
    cols[2].metric("Stock", "–" if stock is None else stock)
    cols[3].metric("Events", len(run.events))
    if run.events:
        last = run.events[-1]
        ago = time.time() - float(last.get("ts") or time.time())
        st.caption(f"Last event: {last.get('type')} (month {last.get('month', '–')}, {ago:.0f} s ago)")
    if kind == data.FINISHED:
        st.success("This run has finished.")
    elif kind == data.DAMAGED:
        ui.show_problems(run)
    months = data.month_frame(run.events)
    if not months.empty:
        cfg = run.config or {}
        st.plotly_chart(charts.stock_figure(months, float(cfg.get("collapse_below", 5)), cfg.get("capacity")))
    left, right = st.columns(2)
    with left:
        st.subheader("Latest utterances")
        said = run.of_type("utterance")[-UTTERANCES_SHOWN:]
        if not said:
            st.caption("Nobody has spoken yet.")
        for u in said:
            with st.chat_message(u.get("agent") or "?", avatar=":material/person:"):
                st.markdown(f"**{u.get('agent')}** · month {u.get('month')}")
                st.text(u.get("text", ""))
    with right:
        st.subheader("Latest events")
        tail = [{"seq": e.get("seq"), "month": e.get("month"), "type": e.get("type"), "agent": e.get("agent")}
                for e in run.events[-EVENTS_SHOWN:]]
        st.dataframe(tail[::-1], hide_index=True)


def render() -> None:
    frame = ui.page("Live")
    if frame is None:
        return
    going = frame[frame["status"] == data.UNFINISHED].sort_values("updated")
    prefer = (going if not going.empty else frame.sort_values("updated"))["name"].iloc[-1]
    path = ui.pick_run(frame, "live_pick", prefer=prefer)
    cols = st.columns([1, 1, 4])
    follow = cols[0].toggle("Follow", value=True, key="live_follow")
    every = cols[1].selectbox("Every", [1, 2, 5, 10], index=1, format_func=lambda s: f"{s} s", key="live_every")

    @st.fragment(run_every=every if follow else None)
    def follow_run() -> None:
        ui.guarded(lambda: live_view(path))

    follow_run()


if __name__ == "__main__":
    ui.guarded(render)
