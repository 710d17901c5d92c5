"""Run: one run in full. Stock, harvests and limits over the months; the month-by-month
timeline (harvest, town hall, summary, reflections); memories and insights; every LLM
call's prompt and reply; and every parse failure, fallback, invalid action and agent error.
"""

from __future__ import annotations

import json
import math
from typing import Any

import streamlit as st

from govsim.runlog import EVENT_TYPES, RunData
from web import charts, data, ui

LLM_PAGE = 20  # LLM calls shown at once (each is an expander holding its whole prompt)
ISSUE_LABELS = {"parse_failure": "parse failure", "fallback": "fallback", "invalid_action": "invalid action",
                "agent_error": "agent error"}


def header(run: RunData) -> None:
    st.caption(ui.describe(run))
    ui.show_problems(run)
    metrics, _ = data.checked_summary(run.summary)  # every value of its type, or None
    months = data.month_frame(run.events)
    cols = st.columns([1.5, 1, 1, 1, 1, 1])
    cols[0].metric("Status", data.status(run))
    cols[1].metric("Months", metrics.get("survival_time") or data.months_played(run.events))
    cols[2].metric("Survived", {True: "yes", False: "no"}.get(metrics.get("survived"), "–"))
    for col, key, fmt in zip(cols[3:], ("gain", "efficiency", "equality"), ("{:.1f}", "{:.2f}", "{:.2f}")):
        value = metrics.get(key)
        col.metric(key.capitalize(), fmt.format(value) if data.finite(value) else "–")
    counts = data.issue_counts(run.events)
    if any(counts.values()):
        said = ", ".join(f"{n} {ISSUE_LABELS[k]}{'s' if n > 1 else ''}" for k, n in counts.items() if n)
        st.error(f"This run had {said}: they are marked in the timeline and listed under Issues.")
    if months.empty and run.events:
        st.info("No month has started in this log yet.")


def charts_tab(run: RunData) -> None:
    months, harvests = data.month_frame(run.events), data.harvest_frame(run.events)
    if months.empty:
        st.info("No months logged: nothing to chart.")
        return
    cfg = run.config or {}
    if not run.config:
        st.caption("The config is missing: the collapse line is drawn at the default 5 units.")
    st.subheader("Stock over the months")
    st.plotly_chart(charts.stock_figure(months, float(cfg.get("collapse_below", 5)), cfg.get("capacity")))
    if not harvests.empty:
        st.subheader("Wanted and caught, per agent")
        st.plotly_chart(charts.harvest_figure(harvests))
    left, right = st.columns(2)
    with left:
        st.subheader("Agreed limit per person")
        st.plotly_chart(charts.limits_figure(months))
    with right:
        if not harvests.empty:
            st.subheader("Caught in all")
            st.plotly_chart(charts.totals_figure(harvests))


def _issue_line(event: dict[str, Any]) -> None:
    text = f"**{event['type'].replace('_', ' ')}** · {event.get('agent') or ''}: {ui.plain(data.issue_detail(event))}"
    (st.error if event["type"] == "agent_error" else st.warning)(text)


def month_section(month: int, events: list[dict[str, Any]]) -> None:
    """One month in the order it happened: harvest, town hall, summary, reflections."""

    def of(*kinds: str) -> list[dict[str, Any]]:
        return [e for e in events if e.get("type") in kinds]

    started = next(iter(of("month_started")), {})
    ended = next(iter(of("month_ended")), {})
    done = next(iter(of("harvest_done")), {})
    after = f" → {done.get('stock_after')} after the harvest" if done else ""
    end = ""
    if ended:
        end = " · **collapsed**" if ended.get("collapsed") else (
            f" · regrows to {ended['stock_next']}" if ended.get("stock_next") is not None else " · last month")
    st.markdown(f"### Month {month}\nstock {started.get('stock', '?')}{after}{end}")
    for e in of("agent_joined"):
        st.info(f"{e.get('agent')} joined: {e.get('text', '')}")
    for e in of(*data.ISSUE_TYPES):
        _issue_line(e)
    harvests = data.harvest_frame(events)
    if not harvests.empty:
        st.dataframe(harvests.drop(columns=["month"]), hide_index=True)
    talk = of("discussion_started")
    if talk:
        with st.container(border=True):
            st.caption("Town hall")
            st.text(talk[0].get("report", ""))
            for u in of("utterance"):
                with st.chat_message(u.get("agent") or "?", avatar=":material/person:"):
                    nxt = "" if u.get("end") else f" → {u.get('next_speaker')}"
                    st.markdown(f"**{u.get('agent')}**{nxt}{' · ends the talk' if u.get('end') else ''}")
                    st.text(u.get("text", ""))
    for s in of("summary"):
        limit = s.get("agreed_limit")
        said = "no limit agreed" if limit in (None, data.NO_LIMIT) else f"agreed limit {limit} per person"
        st.success(f"Summary by {s.get('agent')} ({said}): {ui.plain(s.get('text', ''))}")
    for kind, title in (("reflection", "Reflections"), ("insight", "Insights")):
        notes = [e for e in of(kind) if e.get("text")]
        if notes:
            st.caption(title)
            st.markdown("\n".join(f"- **{e.get('agent')}**: {ui.plain(e['text'])}" for e in notes))
    calls = len(of("llm_call"))
    if calls:
        st.caption(f"{calls} LLM call(s) this month: see the LLM calls tab.")
    for e in events:
        if e.get("type") not in EVENT_TYPES:  # kept by the reader, shown as they are
            st.info(f"Event of an unknown type {e.get('type')!r}: {json.dumps(e, default=str)[:500]}")


def timeline_tab(run: RunData) -> None:
    months = {m: evs for m, evs in data.by_month(run.events).items() if m > 0}
    if not months:
        st.info("No months logged yet.")
        return
    choice = st.selectbox("Month", ["all months", *months], key="timeline_month")
    for month, events in months.items():
        if choice in ("all months", month):
            month_section(month, events)
            st.divider()


def notes_tab(run: RunData) -> None:
    memories, insights = data.notes_frame(run.events, "memory"), data.notes_frame(run.events, "insight")
    if memories.empty and insights.empty:
        st.info("No memories or insights in this run (scripted agents keep none).")
        return
    agents = sorted(set(memories["agent"].dropna()) | set(insights["agent"].dropna()))
    chosen = st.multiselect("Agents", agents, default=agents, key="notes_agents")
    for title, frame in (("Memories", memories), ("Insights", insights)):
        st.subheader(f"{title} ({len(frame)})")
        st.dataframe(frame[frame["agent"].isin(chosen)], hide_index=True,
                     column_config={"text": st.column_config.TextColumn(width="large")})


def llm_call(event: dict[str, Any]) -> None:
    """One call's full prompt and reply, in an expander so it is shown on demand."""
    latency = event.get("latency_s")

    def field(key: str) -> Any:
        return data.call_field(event, key)

    phase = f" ({field('phase')})" if field("phase") else ""
    label = (f"#{event.get('seq')} · month {field('month')}{phase} · {field('agent')} · {field('purpose')} · "
             f"attempt {field('attempt')} · {event.get('prompt_tokens')}+{event.get('completion_tokens')} tokens"
             + (f" · {latency:.2f} s" if data.finite(latency) else ""))
    with st.expander(label):
        st.caption(f"model {event.get('model')} on {event.get('backend')} · constraint {data.constraint_text(event)} · "
                   f"finish reason {event.get('finish_reason')}")
        if event.get("error"):
            st.error(f"The call failed: {event['error']}")
        for message in [m for m in event.get("messages") or [] if isinstance(m, dict)]:
            st.markdown(f"**{message.get('role', '?')}**")
            st.code(str(message.get("content", "")), language=None, wrap_lines=True)
        st.markdown("**reply**")
        st.code(str(event.get("text", "")), language=None, wrap_lines=True)


def llm_tab(run: RunData) -> None:
    calls = data.llm_frame(run.events)
    if calls.empty:
        st.info("No LLM calls in this run (scripted agents make none).")
        return
    keep = calls.index == calls.index
    cols = [*st.columns(4), *st.columns(4)]
    for col, key in zip(cols, data.LLM_FILTERS):
        label = key.replace("_", " ").capitalize()
        chosen = col.multiselect(label, sorted(calls[key].dropna().unique(), key=str), key=f"llm_{key}")
        if chosen:
            keep &= calls[key].isin(chosen)
    total = len(calls)
    unknown_phase = int(calls["phase"].isna().sum())
    calls = calls[keep]
    st.caption(f"{len(calls)} of {total} call(s), {int(calls['prompt_tokens'].fillna(0).sum())} prompt and "
               f"{int(calls['completion_tokens'].fillna(0).sum())} completion tokens")
    if unknown_phase:
        st.caption(f"{unknown_phase} call(s) without a phase: a format-1 log stamped it after the env stepped "
                   "(one phase late), so it is not shown; their month is the one the agent tagged.")
    st.dataframe(calls, hide_index=True, column_config={"reply": st.column_config.TextColumn(width="large")})
    pages = max(1, math.ceil(len(calls) / LLM_PAGE))
    page = st.number_input(f"Page (of {pages}, {LLM_PAGE} calls each)", 1, pages, 1, key="llm_page") if pages > 1 else 1
    wanted = set(calls["seq"].iloc[(page - 1) * LLM_PAGE: page * LLM_PAGE])
    for event in run.of_type("llm_call"):
        if event.get("seq") in wanted:
            llm_call(event)


def issues_tab(run: RunData) -> None:
    issues = data.issues_frame(run.events)
    if issues.empty:
        st.success("No parse failures, fallbacks, invalid actions or agent errors.")
        return
    st.dataframe(issues, hide_index=True, column_config={"detail": st.column_config.TextColumn(width="large")})


def config_tab(run: RunData) -> None:
    if run.config:
        st.json(run.config, expanded=1)
    else:
        st.warning("config.json is missing or unreadable.")
    if run.meta:
        st.caption("meta.json")
        st.json(run.meta, expanded=False)


def render() -> None:
    frame = ui.page("Run")
    if frame is None:
        return
    run = ui.load_run(ui.pick_run(frame, "run_page_pick"))
    header(run)
    tabs = st.tabs(["Charts", "Timeline", "Memories & insights", "LLM calls", "Issues", "Config"])
    for tab, body in zip(tabs, (charts_tab, timeline_tab, notes_tab, llm_tab, issues_tab, config_tab)):
        with tab:
            ui.guarded(lambda: body(run))


if __name__ == "__main__":
    ui.guarded(render)
