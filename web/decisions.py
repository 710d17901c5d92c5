"""From a decision to the LLM calls that made it (no Streamlit here).

A run log records what an agent did (a ``harvest``, an ``utterance``, a ``summary``, a
``reflection``, an ``insight`` or ``memory`` it stored, or an institution's event such as
a vote) apart from the ``llm_call`` events behind it. ``link(events)`` joins them the
way the agents ask, in the order of the log (``seq``):

- An *ask* is one question and its retries: a call with attempt 1, then the calls with
  attempt 2, 3, ... of the same agent, month, phase and purpose (and the same first
  message, so asks in flight at once do not mix). A ``parse_failure`` belongs to the
  ask whose last reply it quotes; a ``fallback`` to the ask of the parse failure just
  before it (of the same agent and purpose), else it stands alone.
- A decision of agent A in month M and phase P takes every ask of A, M and P still
  unclaimed whose purpose makes that decision (``PURPOSES``), plus A's agent errors and
  invalid actions of M and P logged before it (or, when logged just after it, before A's
  next decision there). An event of another type naming an agent (an institution's vote,
  say) takes A's unclaimed asks of M and P of any purpose but ``importance``.
- A memory or insight takes the ``importance`` ask whose prompt holds its text (always
  relevant ones are rated 10 unasked); an insight from reflection also shows the
  reflection's ask (which the ``reflection`` event claims), one from planning or
  memorising the ``think_plan`` or ``think_memorize`` ask.
- The memories a decision recalled are that agent's memory and insight events logged
  before its first call whose text its prompt holds (``recalled``): the agents list
  retrieved memories in the prompt, and the log keeps no other record of retrieval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from govsim.phases import Purpose
from web.data import ISSUE_TYPES, as_int, call_field

# The purposes whose asks make each kind of decision (the generative agent's; see agents/generative).
PURPOSES: dict[str, tuple[str, ...]] = {
    "harvest": (Purpose.HARVEST, Purpose.HARVEST_AMOUNT),
    "utterance": (Purpose.CONVERSE, Purpose.CONVERSE_END, Purpose.CONVERSE_NEXT),
    "summary": (Purpose.SUMMARIZE, Purpose.SUMMARIZE_LIMIT),
    # reflect, and the thoughts after the talk that gave no insight (those that did are their insight's)
    "reflection": (Purpose.REFLECT, Purpose.THINK_PLAN, Purpose.THINK_MEMORIZE),
}
IMPORTANCE = Purpose.IMPORTANCE
NOTES = ("memory", "insight")
THOUGHT_PURPOSES = {"plan": Purpose.THINK_PLAN, "memorize": Purpose.THINK_MEMORIZE}  # an insight's source -> its ask
SHARED = {"reflection": Purpose.REFLECT}  # an insight's source -> the ask it shows, claimed by another decision
NOT_DECISIONS = frozenset({"llm_call", *ISSUE_TYPES, "agent_joined"})


@dataclass
class Ask:
    """One question to the model: its first call, every retry, and what went wrong."""

    calls: list[dict[str, Any]]
    issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def purpose(self) -> str | None:
        return call_field(self.calls[0], "purpose")

    @property
    def first(self) -> dict[str, Any]:
        return self.calls[0]

    @property
    def failed(self) -> bool:
        return any(i.get("type") == "parse_failure" for i in self.issues)


@dataclass
class Trace:
    """A decision and what made it: its asks (first call and retries) in order, the
    issues of the decision that belong to no one ask, and the asks it shows but another
    decision owns (the reflection behind an insight)."""

    event: dict[str, Any]
    asks: list[Ask] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    shown: list[Ask] = field(default_factory=list)

    @property
    def all_asks(self) -> list[Ask]:
        return [*self.shown, *self.asks]

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [c for a in self.asks for c in a.calls]

    def problems(self) -> list[dict[str, Any]]:
        return [*(i for a in self.asks for i in a.issues), *self.issues]


@dataclass
class Traces:
    """Every decision's trace, by the decision event's ``seq``; and, for every linked call,
    the decision it served."""

    by_seq: dict[int, Trace] = field(default_factory=dict)
    owner: dict[int, dict[str, Any]] = field(default_factory=dict)  # llm_call seq -> decision event
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # agent -> memory/insight events in order

    def of(self, event: dict[str, Any]) -> Trace:
        """The trace of a decision event (an empty one for an event nothing links to)."""
        return self.by_seq.get(event.get("seq"), Trace(event))

    def decision_of(self, call: dict[str, Any]) -> dict[str, Any] | None:
        return self.owner.get(call.get("seq"))


def _when(event: dict[str, Any]) -> tuple[Any, Any, Any]:
    return event.get("agent"), call_field(event, "month"), call_field(event, "phase")


def _text_of(call: dict[str, Any]) -> str:
    """All the text a call sent (its messages' contents)."""
    messages = call.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))


def _first_message(call: dict[str, Any]) -> str:
    messages = call.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    return str(first.get("content", "")) if isinstance(first, dict) else ""


class _Linker:
    def __init__(self) -> None:
        self.traces = Traces()
        self.open: dict[tuple, list[Ask]] = defaultdict(list)  # (agent, month, phase) -> unclaimed asks
        self.loose: dict[tuple, list[dict[str, Any]]] = defaultdict(list)  # unclaimed issues
        self.last: dict[tuple, Trace] = {}  # (agent, month, phase) -> the latest decision there
        self.failures: dict[tuple, Ask] = {}  # (agent, month, phase, purpose) -> the ask of the latest parse failure

    def call(self, event: dict[str, Any]) -> None:
        when = _when(event)
        purpose, attempt = call_field(event, "purpose"), as_int(call_field(event, "attempt"), 1)
        if attempt > 1:
            for ask in reversed(self.open[when]):
                same = ask.purpose == purpose and as_int(call_field(ask.calls[-1], "attempt"), 1) == attempt - 1
                if same and _first_message(ask.first) == _first_message(event):
                    ask.calls.append(event)
                    return
        self.open[when].append(Ask([event]))

    def issue(self, event: dict[str, Any]) -> None:
        when = _when(event)
        kind, purpose = event.get("type"), event.get("purpose")
        if kind == "parse_failure":
            candidates = [a for a in self.open[when] if a.purpose == purpose and not a.failed]
            quoted = [a for a in candidates if str(a.calls[-1].get("text") or "").startswith(str(event.get("text", "")))]
            ask = (quoted or candidates or [None])[-1]
            if ask is not None:
                ask.issues.append(event)
                self.failures[(*when, purpose)] = ask
                return
        elif kind == "fallback":
            ask = self.failures.pop((*when, purpose), None)
            if ask is not None:
                ask.issues.append(event)
                return
        self.loose[when].append(event)

    def _claim(self, trace: Trace, when: tuple, wanted) -> None:
        keep = []
        for ask in self.open[when]:
            (trace.asks if wanted(ask.purpose) else keep).append(ask)
        self.open[when] = keep
        free = []
        for issue in self.loose[when]:
            ours = issue.get("type") in ("agent_error", "invalid_action") or wanted(issue.get("purpose"))
            (trace.issues if ours else free).append(issue)
        self.loose[when] = free
        for ask in trace.asks:
            for call in ask.calls:
                self.traces.owner[call.get("seq")] = trace.event

    def decision(self, event: dict[str, Any]) -> None:
        when, kind = _when(event), event.get("type")
        trace = Trace(event)
        if kind in NOTES:
            self._note(trace, when)
        else:
            purposes = PURPOSES.get(kind)
            self._claim(trace, when, (lambda p: p in purposes) if purposes else (lambda p: p != IMPORTANCE))
        self.traces.by_seq[event.get("seq")] = trace
        self.last[when] = trace

    def _note(self, trace: Trace, when: tuple) -> None:
        event = trace.event
        self.traces.notes.setdefault(str(event.get("agent")), []).append(event)
        text = str(event.get("text") or "")
        source = event.get("source")
        if source in THOUGHT_PURPOSES:
            purpose = THOUGHT_PURPOSES[source]
            ask = next((a for a in self.open[when] if a.purpose == purpose), None)
            if ask is not None:
                self.open[when].remove(ask)
                trace.asks.append(ask)
        if source in SHARED:
            trace.shown += [a for a in self.open[when] if a.purpose == SHARED[source]][-1:]
        if not event.get("always_relevant") and text:
            rating = next((a for a in self.open[when] if a.purpose == IMPORTANCE and text in _text_of(a.first)), None)
            if rating is not None:
                self.open[when].remove(rating)
                trace.asks.append(rating)
        for ask in trace.asks:
            for call in ask.calls:
                self.traces.owner[call.get("seq")] = event

    def finish(self) -> Traces:
        """Issues logged just after an agent's decision (none followed there) join it."""
        for when, issues in self.loose.items():
            trace = self.last.get(when)
            if trace is not None:
                trace.issues += [i for i in issues if i.get("seq", -1) > trace.event.get("seq", -1)]
        return self.traces


def link(events: Iterable[dict[str, Any]]) -> Traces:
    """Every decision of a run with the asks, issues and shown asks behind it (see the module docstring)."""
    linker = _Linker()
    for event in events:
        kind = event.get("type")
        if kind == "llm_call":
            linker.call(event)
        elif kind in ISSUE_TYPES:
            linker.issue(event)
        elif isinstance(event.get("agent"), str) and kind not in NOT_DECISIONS:
            linker.decision(event)
    return linker.finish()


def recalled(traces: Traces, trace: Trace) -> list[dict[str, Any]]:
    """The memories and insights the decision's prompts listed, in the order listed.

    For each ask (not the importance ratings): the agent's memory and insight events
    logged before the ask's first call whose text the prompt holds; a text held k times
    is the k latest memories of that text (the same observation comes every month).
    """
    agent = trace.event.get("agent")
    notes = traces.notes.get(str(agent), [])
    found: dict[int, tuple[int, dict[str, Any]]] = {}
    for ask in trace.all_asks:
        if ask.purpose == IMPORTANCE:
            continue
        prompt, before = _text_of(ask.first), ask.first.get("seq", 0)
        earlier = [n for n in notes if n.get("seq", 0) < before and n.get("text")]
        by_text: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for note in earlier:
            by_text[str(note["text"])].append(note)
        for text, same in by_text.items():
            times = prompt.count(text)
            for note in same[-times:] if times else []:
                found.setdefault(note.get("seq"), (prompt.find(text), note))
    return [note for _, note in sorted(found.values(), key=lambda pair: (pair[0], pair[1].get("seq", 0)))]


def label(event: dict[str, Any] | None) -> str | None:
    """A decision as a short label for a call's row: ``harvest``, ``memory (chat: summary)``
    (a memory's kind picks its importance prompt), ``insight (plan)``."""
    if event is None:
        return None
    kind = event.get("type")
    if kind == "memory":
        return f"memory ({': '.join(str(p) for p in (event.get('kind'), event.get('source')) if p)})"
    if kind == "insight":
        return f"insight ({event.get('source') or event.get('kind')})"
    return str(kind)
