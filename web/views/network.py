"""Network: who addressed whom in a run's town halls (``govsim.network.conversation_graph``),
who proposed a limit and who backed the agreed one, over all months or a range.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from govsim.config import ConfigError
from govsim.network import build, conversation_graph
from govsim.runlog import RunData
from web import charts, data, ui


def _allowed_edges(run: RunData, names: list[str]) -> list[tuple[str, str]] | None:
    """The run's communication network when it restricts talk (None for the complete town hall)."""
    cfg = run.config or {}
    spec = cfg.get("network") or "complete"
    try:
        graph = build(spec, names, seed=int(cfg.get("seed") or 0))
    except (ConfigError, ValueError) as exc:
        st.caption(f"The communication network {spec!r} could not be rebuilt ({exc}); showing the talk only.")
        return None
    return None if graph is None else list(graph.edges())


def render() -> None:
    frame = ui.page("Conversation network")
    if frame is None:
        return
    run = ui.load_run(ui.pick_run(frame, "network_pick"))
    st.caption(ui.describe(run))
    ui.show_problems(run)
    last = data.months_played(run.events)
    if not run.of_type("utterance"):
        st.info("Nobody spoke in this run's log (no communication, or no town hall reached yet).")
        return
    low, high = (1, last)
    if last > 1:
        low, high = st.slider("Months", 1, last, (1, last), key="network_months")
    events = [e for e in run.events if e.get("month") is None or low <= int(e["month"]) <= high]
    graph = conversation_graph(events)
    allowed = _allowed_edges(run, list(graph.nodes))
    st.plotly_chart(charts.network_figure(graph, allowed))
    st.caption("An arrow runs from a speaker to the agent it named to speak next; thicker = more often. "
               "Green agents backed the limit a summary recorded (they proposed it or said they agreed)"
               + ("; grey lines are the allowed links of the run's communication network." if allowed else "."))
    types = data.identity(run)["agents"]
    left, right = st.columns(2)
    with left:
        st.subheader("Who addressed whom")
        edges = pd.DataFrame(
            [{"from": a, "to": b, "times": d.get("weight", 1), "months": ", ".join(map(str, d.get("months", [])))}
             for a, b, d in graph.edges(data=True)],
            columns=["from", "to", "times", "months"],
        )
        st.dataframe(edges.sort_values("times", ascending=False), hide_index=True)
    with right:
        st.subheader("Proposals and agreement")
        limits = graph.graph.get("agreed_limits", {})
        nodes = pd.DataFrame(
            [{"agent": n, "type": types.get(n), "utterances": d.get("utterances", 0),
              "proposed": ", ".join(f"{limit} (m{m})" for m, limit in d.get("proposals", [])),
              "backed agreed limit in": ", ".join(f"m{m}" for m in d.get("agreed", []))}
             for n, d in graph.nodes(data=True)]
        )
        st.dataframe(nodes, hide_index=True)
        said = ", ".join(f"month {m}: {limit}" for m, limit in sorted(limits.items())) or "none"
        st.caption(f"Agreed limits: {said}")


if __name__ == "__main__":
    ui.guarded(render)
