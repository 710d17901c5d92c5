"""Decision traces on the page: a decision opens the memories it recalled, each call's
prompt and reply, every retry and what went wrong, nested in place (``web.decisions``
links them).

Every expander here is lazy (``on_change="rerun"``): its body is built only while it is
open, so a month of sixty decisions costs sixty labels until one is opened.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import streamlit as st

from web import data, decisions, ui
from web.decisions import Ask, Trace, Traces

ISSUE_LABELS = {kind: kind.replace("_", " ") for kind in data.ISSUE_TYPES}  # parse_failure: "parse failure"


def lazy(label: str, key: str, body: Callable[[], None], **options: Any) -> None:
    """An expander whose body runs only while it is open."""
    box = st.expander(label, key=key, on_change="rerun", **options)
    if box.open:
        with box:
            ui.guarded(body)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------------------- one call


def call_label(call: dict[str, Any], with_agent: bool = False) -> str:
    def field(key: str) -> Any:
        return data.call_field(call, key)

    latency = call.get("latency_s")
    who = f"{field('agent')} · " if with_agent else ""
    when = f"month {field('month')}" + (f" ({field('phase')})" if field("phase") else "")
    failed = " · failed" if call.get("error") else ""
    return (f"#{call.get('seq')} · {when} · {who}{field('purpose')} · attempt {field('attempt')} · "
            f"{call.get('prompt_tokens')}+{call.get('completion_tokens')} tokens · {call.get('finish_reason')}"
            + (f" · {latency:.2f} s" if data.finite(latency) else "") + failed)


def call_body(call: dict[str, Any], decision: dict[str, Any] | None = None) -> None:
    """A call's prompt (every message) and reply, and how it was asked."""
    made = f" · made for the {describe(decision)}" if decision else ""
    st.caption(f"model {call.get('model')} on {call.get('backend')} · constraint {data.constraint_text(call)} · "
               f"finish reason {call.get('finish_reason')}{made}")
    if call.get("error"):
        st.error(f"The call failed: {call['error']}")
    for message in [m for m in call.get("messages") or [] if isinstance(m, dict)]:
        st.markdown(f"**{message.get('role', '?')}**")
        st.code(str(message.get("content", "")), language=None, wrap_lines=True)
    st.markdown("**reply**")
    st.code(str(call.get("text") or ""), language=None, wrap_lines=True)


def call_box(call: dict[str, Any], key: str, decision: dict[str, Any] | None = None, with_agent: bool = False) -> None:
    lazy(call_label(call, with_agent), f"{key}-call{call.get('seq')}", lambda: call_body(call, decision))


# ---------------------------------------------------------------------------- issues


def issue_line(event: dict[str, Any]) -> None:
    text = f"**{ISSUE_LABELS.get(event.get('type'), event.get('type'))}** · {event.get('agent') or ''}: " \
           f"{ui.plain(data.issue_detail(event))}"
    (st.error if event.get("type") == "agent_error" else st.warning)(text)


def issue_group(event: dict[str, Any]) -> str:
    """What an issue is about: the purpose of the ask, the action key, else its phase."""
    return str(event.get("purpose") or event.get("key") or event.get("phase") or "other")


def issues_box(events: Iterable[dict[str, Any]], key: str, title: str = "this month") -> None:
    """A month's parse failures, fallbacks, invalid actions and agent errors: one counted
    expander, grouped by purpose inside, one table a group."""
    issues = [e for e in events if e.get("type") in data.ISSUE_TYPES]
    if not issues:
        return
    counts = data.issue_counts(issues)
    said = ", ".join(plural(n, ISSUE_LABELS[k]) for k, n in counts.items() if n)

    def body() -> None:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for issue in issues:
            groups[issue_group(issue)].append(issue)
        for group, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            st.markdown(f"**{ui.plain(group)}** ({len(items)})")
            st.dataframe(
                pd.DataFrame([{"seq": e.get("seq"), "phase": e.get("phase"), "agent": e.get("agent"),
                               "type": ISSUE_LABELS.get(e.get("type")), "detail": data.issue_detail(e)} for e in items]),
                hide_index=True, column_config={"detail": st.column_config.TextColumn(width="large")},
            )

    lazy(f"{plural(len(issues), 'issue')} {title}: {said}", key, body, icon=":material/warning:")


# ---------------------------------------------------------------------------- one decision


def describe(event: dict[str, Any]) -> str:
    """A decision in a few words: ``harvest of John, month 1 (#18)``."""
    kind = decisions.label(event) or "event"
    return f"{kind} of {event.get('agent')}, month {event.get('month')} (#{event.get('seq')})"


def _recalled_table(notes: list[dict[str, Any]]) -> None:
    st.dataframe(
        pd.DataFrame([{"seq": n.get("seq"), "month": n.get("month"), "type": n.get("type"), "kind": n.get("kind"),
                       "source": n.get("source"), "importance": n.get("importance"), "created": n.get("created"),
                       "text": n.get("text")} for n in notes]),
        hide_index=True, column_config={"text": st.column_config.TextColumn(width="large")},
    )


def _ask(ask: Ask, key: str) -> None:
    for call in ask.calls:
        call_box(call, key)
    for issue in ask.issues:
        issue_line(issue)


def trace_body(traces: Traces, trace: Trace, key: str) -> None:
    """What made a decision: the memories its prompts listed, then each ask (its first
    call and retries, their issues), then the decision's other issues."""
    notes = decisions.recalled(traces, trace)
    if notes:
        lazy(f"Memories in the prompt ({len(notes)})", f"{key}-mem", lambda: _recalled_table(notes),
             icon=":material/psychology:")
    for ask in trace.shown:
        st.caption(f"From the {ask.purpose} that produced it:")
        _ask(ask, f"{key}-shown")
    for ask in trace.asks:
        _ask(ask, key)
    for issue in trace.issues:
        issue_line(issue)
    if not trace.all_asks and not trace.issues:
        event = trace.event
        why = ("always relevant: rated 10 without asking" if event.get("always_relevant")
               else "no LLM call made it (a scripted agent, or a rule)")
        st.caption(f"Nothing to trace: {why}.")
    if trace.event.get("cites"):
        st.caption(f"Cites memories {', '.join(map(str, trace.event['cites']))} (ids in the Agents tab's table).")


def decision_box(traces: Traces, event: dict[str, Any], label: str, key: str, **options: Any) -> None:
    """One decision as a lazy expander holding its trace."""
    trace = traces.of(event)
    problems = trace.problems()
    mark = f" · {plural(len(problems), 'issue')}" if problems else ""
    calls = len(trace.calls)
    counted = f" · {plural(calls, 'call')}" if calls else ""
    lazy(f"{label}{counted}{mark}", f"{key}-{event.get('seq')}", lambda: trace_body(traces, trace, f"{key}-{event.get('seq')}"),
         **options)


def generic_box(traces: Traces, event: dict[str, Any], key: str, known: bool) -> None:
    """An event the page has no layout for (a new institution's, a plugin's): its fields,
    and its trace when it names an agent."""
    fields = {k: v for k, v in event.items() if k not in ("v", "seq", "type", "ts", "month", "phase")}
    said = ", ".join(f"{k} {v}" for k, v in fields.items() if isinstance(v, (str, int, float, bool)) and len(str(v)) < 40)
    tag = "" if known else " (an event type this version does not know)"
    label = f"{event.get('type')}{tag} · {said}"[:160]

    def body() -> None:
        st.code(json.dumps(event, indent=1, default=str)[:5000], language="json", wrap_lines=True)
        if isinstance(event.get("agent"), str):
            trace_body(traces, traces.of(event), f"{key}-{event.get('seq')}")

    lazy(label, f"{key}-{event.get('seq')}", body, icon=":material/label:")
