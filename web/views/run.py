"""Run: one run in full, a tab at a time (only the open tab is built). Stock, harvests and
limits over the months; the month-by-month timeline, where each harvest, utterance,
summary, reflection, insight or other decision opens its trace (``web.trace_ui``); one
agent's trajectory; every LLM call; every parse failure, fallback, invalid action and
agent error; the config.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from govsim.phases import NO_LIMIT
from govsim.runlog import EVENT_TYPES, RunData
from web import data, ui
from web.decisions import Traces
from web.trace_ui import ISSUE_LABELS, call_body, call_label, decision_box, generic_box, issues_box, lazy, plural

TABS = ("Charts", "Timeline", "Agents", "LLM calls", "Issues", "Config")
LLM_PAGE = 20  # LLM calls listed at once (each a lazy expander holding its whole prompt)
LLM_FILTERS = (*data.LLM_FILTERS, "decision")
# Shown in a month's heading, folded into its issues box, or left to other tabs.
NOT_IN_FLOW = frozenset({"llm_call", "memory", *data.ISSUE_TYPES, "month_started", "month_ended", "run_started",
                         "run_ended", "run_resumed"})


def header(run: RunData) -> None:
    st.caption(ui.describe(run))
    ui.show_problems(run)
    metrics, _ = data.checked_summary(run.summary)  # every value of its type, or None
    with st.container(horizontal=True, gap="large"):  # wraps on a narrow window instead of cutting the values
        st.metric("Status", data.status(run), width="content")
        st.metric("Months", metrics.get("survival_time") or data.months_played(run.events), width="content")
        st.metric("Survived", {True: "yes", False: "no"}.get(metrics.get("survived"), "–"), width="content")
        for key, fmt in (("gain", "{:.1f}"), ("efficiency", "{:.2f}"), ("equality", "{:.2f}")):
            value = metrics.get(key)
            st.metric(key.capitalize(), fmt.format(value) if data.finite(value) else "–", width="content")
    counts = data.issue_counts(run.events)
    if any(counts.values()):
        said = ", ".join(plural(n, ISSUE_LABELS[k]) for k, n in counts.items() if n)
        st.error(f"This run had {said}: each month's are counted in the timeline, all are listed under Issues.")
    if not any(e.get("type") == "month_started" for e in run.events) and run.events:
        st.info("No month has started in this log yet.")


# ---------------------------------------------------------------------------- Charts


def charts_tab(path: Path, run: RunData) -> None:
    if ui.table("months", path).empty:
        st.info("No months logged: nothing to chart.")
        return
    if not run.config:
        st.caption("The config is missing: the collapse line is drawn at the default 5 units.")
    figures = ui.figures(path)
    st.subheader("Stock over the months")
    st.plotly_chart(figures["stock"])
    if "harvests" in figures:
        st.subheader("Wanted and caught, per agent")
        st.plotly_chart(figures["harvests"])
    left, right = st.columns(2)
    with left:
        st.subheader("Agreed limit per person")
        st.plotly_chart(figures["limits"])
    with right:
        if "totals" in figures:
            st.subheader("Caught in all")
            st.plotly_chart(figures["totals"])


# ---------------------------------------------------------------------------- Timeline


def _harvest_label(e: dict[str, Any]) -> str:
    caught, limit = data.number(e.get("caught")), data.number(e.get("threshold"))
    above = f" · :red[above f(h) = {limit}]" if caught is not None and limit is not None and caught > limit else ""
    return f"**{ui.plain(e.get('agent'))}** wanted {e.get('wanted')}, caught {e.get('caught')}{above}"


def _first_line(text: Any, most: int = 110) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return ui.plain(line if len(line) <= most else line[:most] + "…")


def event_box(traces: Traces, e: dict[str, Any], key: str) -> None:
    """One decision of the flow (not an utterance, which sits in the town hall)."""
    kind = e.get("type")
    if kind == "harvest":
        decision_box(traces, e, _harvest_label(e), key, icon=":material/phishing:")
    elif kind == "summary":
        limit = e.get("agreed_limit")
        said = "no limit agreed" if limit in (None, NO_LIMIT) else f"agreed limit {limit} per person"
        st.success(f"Summary by {e.get('agent')} ({said}): {ui.plain(e.get('text', ''))}")
        decision_box(traces, e, "How the summary was written", key, type="compact")
    elif kind == "reflection":
        decision_box(traces, e, f"**{ui.plain(e.get('agent'))}** reflects: {_first_line(e.get('text')) or '(nothing)'}",
                     key, icon=":material/self_improvement:")
    elif kind == "insight":
        decision_box(traces, e, f"**{ui.plain(e.get('agent'))}** · {e.get('source') or e.get('kind')}: "
                     f"{_first_line(e.get('text'))}", key, type="compact", icon=":material/lightbulb:")
    elif kind == "agent_joined":
        st.info(f"{e.get('agent')} joined: {e.get('text', '')}")
    elif kind == "harvest_done":
        st.caption(f"{e.get('total')} caught in all; {e.get('stock_after')} left in the commons.")
    elif kind == "run_failed":
        st.error(f"The run was stopped: {e.get('reason')}")
    else:  # a type this page has no layout for: shown as it is, in its place
        generic_box(traces, e, key, known=kind in EVENT_TYPES)


def utterance(traces: Traces, u: dict[str, Any], key: str) -> None:
    with st.chat_message(u.get("agent") or "?", avatar=":material/person:"):
        nxt = "" if u.get("end") else f" → {u.get('next_speaker')}"
        st.markdown(f"**{ui.plain(u.get('agent'))}**{nxt}{' · ends the talk' if u.get('end') else ''}")
        st.text(u.get("text", ""))
        decision_box(traces, u, "How this was said", key, type="compact")


def month_section(traces: Traces, month: int, events: list[dict[str, Any]]) -> None:
    """One month in the order it happened; every decision opens its trace."""
    started = next((e for e in events if e.get("type") == "month_started"), {})
    ended = next((e for e in events if e.get("type") == "month_ended"), {})
    done = next((e for e in events if e.get("type") == "harvest_done"), {})
    after = f" → {done.get('stock_after')} after the harvest" if done else ""
    end = ""
    if ended:
        end = " · **collapsed**" if ended.get("collapsed") else (
            f" · regrows to {ended['stock_next']}" if ended.get("stock_next") is not None else " · last month")
    st.markdown(f"### Month {month}\nstock {started.get('stock', '?')}{after}{end}")
    issues_box(events, f"tl-issues-{month}")
    talk, heading = None, None
    for e in events:
        kind = e.get("type")
        if kind in NOT_IN_FLOW:
            continue
        if kind == "discussion_started":
            talk = st.container(border=True)
            with talk:
                st.caption("Town hall")
                st.text(e.get("report", ""))
            continue
        if kind == "utterance":
            with talk if talk is not None else st.container():
                utterance(traces, e, "tl")
            continue
        section = {"harvest": "Harvest", "insight": "Thoughts and insights", "reflection": "Reflections"}.get(kind)
        if section and section != heading:
            st.caption(section)
        heading = section
        event_box(traces, e, "tl")
    memories = sum(1 for e in events if e.get("type") == "memory")
    calls = sum(1 for e in events if e.get("type") == "llm_call")
    if memories or calls:
        st.caption(f"{plural(calls, 'LLM call')} and {plural(memories, 'memory')} stored this month: "
                   "every decision above opens its calls; the Agents tab lists each agent's memories.")


def timeline_tab(path: Path, run: RunData) -> None:
    months = {m: evs for m, evs in data.by_month(run.events).items() if m > 0}
    if not months:
        st.info("No months logged yet.")
        return
    traces = ui.traces(path)
    # One month at a time by default: twelve months of decisions are slow to draw and long to scroll.
    choice = st.selectbox("Month", [*months, "all months"], key="timeline_month")
    for month, events in months.items():
        if choice in ("all months", month):
            month_section(traces, month, events)
            st.divider()


# ---------------------------------------------------------------------------- Agents


def _agent_label(e: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A decision's line in an agent's month, and the expander's look."""
    kind, text = e.get("type"), _first_line(e.get("text"))
    if kind == "harvest":
        return _harvest_label(e), {"icon": ":material/phishing:"}
    if kind == "utterance":
        return f"said (turn {e.get('turn')}): {text}", {"icon": ":material/forum:"}
    if kind == "summary":
        return f"wrote the summary (limit {e.get('agreed_limit')}): {text}", {"icon": ":material/edit_note:"}
    if kind == "reflection":
        return f"reflected: {text or '(nothing)'}", {"icon": ":material/self_improvement:"}
    if kind == "insight":
        return f"thought ({e.get('source')}, importance {e.get('importance')}): {text}", {"icon": ":material/lightbulb:"}
    if kind == "memory":
        return (f"remembered ({e.get('kind')}/{e.get('source')}, importance {e.get('importance')}): {text}",
                {"icon": ":material/memory:"})
    return f"{kind}: {text}", {"icon": ":material/label:"}


def agents_tab(path: Path, run: RunData) -> None:
    types = data.identity(run)["agents"]
    names = list(dict.fromkeys([*types, *(e["agent"] for e in run.events if isinstance(e.get("agent"), str))]))
    if not names:
        st.info("No agent acted in this log yet.")
        return
    agent = st.selectbox("Agent", names, key="agent_pick",
                         format_func=lambda n: f"{n} ({types[n]})" if types.get(n) else n)
    mine = [e for e in run.events if e.get("agent") == agent]
    harvests = ui.table("harvests", path)
    harvests = harvests[harvests["agent"] == agent]
    calls = ui.table("calls", path)
    calls = calls[calls["agent"] == agent]
    notes = pd.concat([ui.table("memories", path).assign(type="memory"), ui.table("insights", path).assign(type="insight")])
    notes = notes[notes["agent"] == agent].sort_values("seq")
    said = [e for e in mine if e.get("type") == "utterance"]
    issues = [e for e in mine if e.get("type") in data.ISSUE_TYPES]
    with st.container(horizontal=True, gap="large"):
        st.metric("Caught in all", int(pd.to_numeric(harvests["caught"]).fillna(0).sum()), width="content")
        st.metric("Utterances", len(said), width="content")
        st.metric("Memories", int((notes["type"] == "memory").sum()), width="content")
        st.metric("Insights", int((notes["type"] == "insight").sum()), width="content")
        st.metric("LLM calls", len(calls), width="content")
        st.metric("Tokens", int(calls["prompt_tokens"].fillna(0).sum() + calls["completion_tokens"].fillna(0).sum()),
                  width="content")
        st.metric("Issues", len(issues), width="content")
    left, right = st.columns(2)
    with left:
        st.subheader("Harvests")
        st.dataframe(harvests.drop(columns=["agent"]), hide_index=True)
    with right:
        st.subheader("Utterances")
        st.dataframe(pd.DataFrame([{"month": u.get("month"), "turn": u.get("turn"), "text": u.get("text"),
                                    "next": u.get("next_speaker"), "ends": u.get("end")} for u in said],
                                  columns=["month", "turn", "text", "next", "ends"]),
                     hide_index=True, column_config={"text": st.column_config.TextColumn(width="large")})
    st.subheader("Month by month")
    months = sorted({data.as_int(e.get("month")) for e in mine if data.as_int(e.get("month")) > 0})
    if months:
        month = st.selectbox("Month", months, key="agent_month")
        traces = ui.traces(path)
        here = [e for e in mine if data.as_int(e.get("month")) == month]
        issues_box(here, f"ag-issues-{agent}-{month}", f"of {agent} this month")
        for e in here:
            if e.get("type") not in ("llm_call", *data.ISSUE_TYPES):
                text, look = _agent_label(e)
                decision_box(traces, e, text, f"ag-{agent}", **look)
    st.subheader("Memories and insights")
    if notes.empty:
        st.caption("None: this agent keeps no memory (a scripted agent).")
    else:
        st.dataframe(notes[["seq", "month", "type", "kind", "source", "importance", "created", "expires", "text"]],
                     hide_index=True, column_config={"text": st.column_config.TextColumn(width="large")})
    if not calls.empty:
        st.subheader("Calls by purpose")
        st.dataframe(calls.assign(first=calls["attempt"] == 1, failed=calls["error"].notna()).groupby("purpose").agg(
            calls=("seq", "size"), first_attempts=("first", "sum"), failed=("failed", "sum"),
            prompt_tokens=("prompt_tokens", "sum"), completion_tokens=("completion_tokens", "sum")).reset_index(),
            hide_index=True)


# ---------------------------------------------------------------------------- LLM calls


def llm_tab(path: Path, run: RunData) -> None:
    calls = ui.table("calls", path)
    if calls.empty:
        st.info("No LLM calls in this run (scripted agents make none).")
        return
    keep = calls.index == calls.index
    cols = [*st.columns(4), *st.columns(4)]
    for col, key in zip(cols, LLM_FILTERS):
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
    traces = ui.traces(path)
    for event in run.of_type("llm_call"):
        if event.get("seq") in wanted:
            decision = traces.decision_of(event)
            lazy(call_label(event, with_agent=True), f"llm-{event.get('seq')}",
                 lambda event=event, decision=decision: call_body(event, decision))


# ---------------------------------------------------------------------------- Issues, Config


def issues_tab(path: Path, run: RunData) -> None:
    issues = ui.table("issues", path)
    if issues.empty:
        st.success("No parse failures, fallbacks, invalid actions or agent errors.")
        return
    events = [e for e in run.events if e.get("type") in data.ISSUE_TYPES]
    counts = pd.DataFrame([{"type": e.get("type"), "about": str(e.get("purpose") or e.get("key") or e.get("phase"))}
                           for e in events]).value_counts().rename("count").reset_index()
    st.subheader("Counted by kind and what they were about")
    st.dataframe(counts, hide_index=True)
    st.subheader(f"Every one ({len(issues)})")
    st.dataframe(issues, hide_index=True, column_config={"detail": st.column_config.TextColumn(width="large")})


def config_tab(path: Path, run: RunData) -> None:
    if run.config:
        st.json(run.config, expanded=1)
    else:
        st.warning("config.json is missing or unreadable.")
    if run.meta:
        st.caption("meta.json")
        st.json(run.meta, expanded=False)


BODIES = (charts_tab, timeline_tab, agents_tab, llm_tab, issues_tab, config_tab)


def render() -> None:
    frame = ui.page("Run")
    if frame is None:
        return
    path = ui.pick_run(frame, "run_page_pick")
    run = ui.load_run(path)
    header(run)
    # A tab's body runs only while it is the open one (the tab is a widget: ?tab=Timeline opens it).
    tabs = st.tabs(list(TABS), key="tab", on_change="rerun", bind="query-params")
    for tab, body in zip(tabs, BODIES):
        if tab.open is not False:
            with tab:
                ui.guarded(partial(body, path, run))


if __name__ == "__main__":
    ui.guarded(render)
