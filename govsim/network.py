"""Communication networks (who may talk to whom) and conversation graphs (who did).

``build(spec, names, seed)`` turns the config key ``network`` into an undirected
``networkx.Graph`` over the seat names, or ``None`` for the complete network (everyone
hears everyone: GovSim's town hall). Specs:

- ``complete`` (default), ``ring``, ``star`` (``star:center=Kate``; the first seat by
  default);
- ``small_world:k=2,p=0.3`` (connected Watts–Strogatz: each seat linked to its k nearest
  seats round the table, each link rewired with probability p);
- ``random:p=0.5`` (Erdős–Rényi, redrawn until connected);
- a path to a graph file: GraphML (``.graphml``) or an edge list (two names a line).

Random graphs are seeded with the run's seed unless the spec names one (``seed=N``),
so the same config gives the same graph. How the env uses the graph is described in
``envs/commons_v0.py`` (discussion part).

``conversation_graph(events)`` reads a run's events into a ``networkx.DiGraph`` of the
talk that actually happened; the runner saves it as ``graph.json`` (node-link JSON).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from govsim.config import ConfigError, RunConfig
from govsim.phases import NO_LIMIT

KINDS = ("complete", "ring", "star", "small_world", "random")
_PARAMS = {"complete": set(), "ring": set(), "star": {"center"}, "small_world": {"k", "p", "seed"}, "random": {"p", "seed"}}
GRAPH_SUFFIXES = (".graphml", ".xml", ".edgelist", ".edges", ".txt", ".csv")
CONNECT_TRIES = 1000  # draws of a random graph before giving up on a connected one


# ---------------------------------------------------------------------------- building


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"small_world:k=2,p=0.3"`` -> ("small_world", {"k": "2", "p": "0.3"})."""
    kind, _, rest = spec.strip().partition(":")
    params: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"network {spec!r}: parameters are KEY=VALUE, e.g. small_world:k=2,p=0.3")
        params[key.strip()] = value.strip()
    return kind.strip(), params


def is_file_spec(spec: str) -> bool:
    return spec.lower().endswith(GRAPH_SUFFIXES) or "/" in spec or Path(spec).is_file()


def build(spec: str, names: Sequence[str], seed: int = 0) -> nx.Graph | None:
    """The communication graph over ``names``; ``None`` means complete (no restriction).

    Raises ``ConfigError`` with one line for an unknown kind, a bad parameter or a
    graph file that does not match the seats.
    """
    names = list(names)
    if is_file_spec(spec):
        return _from_file(Path(spec), names)
    kind, params = parse_spec(spec)
    if kind not in KINDS:
        raise ConfigError(
            f"network: unknown {spec!r}; use one of {', '.join(KINDS)} (e.g. small_world:k=2,p=0.3) or a graph file path"
        )
    unknown = sorted(set(params) - _PARAMS[kind])
    if unknown:
        allowed = ", ".join(sorted(_PARAMS[kind])) or "none"
        raise ConfigError(f"network {spec!r}: unknown parameter {unknown[0]!r}; allowed for {kind}: {allowed}")
    if kind == "complete":
        return None
    seed = _number(spec, params, "seed", int, seed)
    n = len(names)
    if kind == "ring":
        graph = nx.cycle_graph(n)
    elif kind == "star":
        center = params.get("center", names[0])
        if center not in names:
            raise ConfigError(f"network {spec!r}: center {center!r} is not a seat; seats: {', '.join(names)}")
        others = [x for x in names if x != center]
        graph = nx.Graph([(center, other) for other in others])
        graph.add_nodes_from(names)
        return _in_seat_order(graph, names)
    elif kind == "small_world":
        k = _number(spec, params, "k", int, 2)
        p = _probability(spec, params, 0.3)
        if not 2 <= k < n:
            raise ConfigError(f"network {spec!r}: k must be in [2, {n - 1}] for {n} seats")
        graph = nx.connected_watts_strogatz_graph(n, k, p, tries=CONNECT_TRIES, seed=seed)
    else:
        p = _probability(spec, params, 0.5)
        graph = _connected_gnp(spec, n, p, seed)
    return _in_seat_order(nx.relabel_nodes(graph, dict(enumerate(names))), names)


def _connected_gnp(spec: str, n: int, p: float, seed: int) -> nx.Graph:
    for attempt in range(CONNECT_TRIES):
        graph = nx.gnp_random_graph(n, p, seed=seed * CONNECT_TRIES + attempt)
        if n <= 1 or nx.is_connected(graph):
            return graph
    raise ConfigError(f"network {spec!r}: no connected graph in {CONNECT_TRIES} draws; raise p")


def _number(spec: str, params: dict[str, str], key: str, kind: type, default: Any) -> Any:
    if key not in params:
        return default
    try:
        return kind(params[key])
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"network {spec!r}: {key} must be {what}, got {params[key]!r}") from None


def _probability(spec: str, params: dict[str, str], default: float) -> float:
    p = _number(spec, params, "p", float, default)
    if not 0 <= p <= 1:
        raise ConfigError(f"network {spec!r}: p must be in [0, 1], got {p}")
    return p


def _from_file(path: Path, names: list[str]) -> nx.Graph:
    if not path.is_file():
        raise ConfigError(f"network: graph file {path} does not exist (or use one of {', '.join(KINDS)})")
    try:
        if path.suffix.lower() in (".graphml", ".xml"):
            graph = nx.Graph(nx.read_graphml(path))
        else:
            graph = nx.read_edgelist(path, nodetype=str, delimiter="," if path.suffix.lower() == ".csv" else None)
    except Exception as exc:  # networkx raises many kinds on a malformed file
        raise ConfigError(f"network: cannot read graph file {path} ({type(exc).__name__}: {exc})") from None
    graph = nx.Graph(graph)  # undirected, no multi-edges
    strangers = sorted(set(graph) - set(names))
    if strangers:
        raise ConfigError(f"network file {path}: {', '.join(strangers)} are not seats; seats: {', '.join(names)}")
    missing = [x for x in names if x not in graph]
    if missing:
        raise ConfigError(f"network file {path}: seat(s) {', '.join(missing)} are missing from the graph")
    return _in_seat_order(graph, names)


def _in_seat_order(graph: nx.Graph, names: list[str]) -> nx.Graph:
    """The same graph with nodes (and so neighbour lists) in seat order: deterministic."""
    ordered = nx.Graph()
    ordered.add_nodes_from(names)
    edges = [e for e in graph.edges() if e[0] != e[1]]
    ordered.add_edges_from(sorted(edges, key=lambda e: (names.index(e[0]), names.index(e[1]))))
    return ordered


def for_config(config: RunConfig) -> nx.Graph | None:
    """The communication graph of a run (``None`` = complete)."""
    return build(config.network, [seat.name for seat in config.agents], seed=config.seed)


# ---------------------------------------------------------------------------- conversation graphs

# A proposal: a sentence with a limit word, read for its first number ("I propose that
# each of us takes at most 10 tons" -> 10). A heuristic over free text, as LLM talk is.
_LIMIT_WORDS = re.compile(r"\b(propos\w*|suggest\w*|limit\w*|at most|no more than|maximum|cap|each of us|per person)\b", re.I)
_AGREE_WORDS = re.compile(r"\b(agree[sd]?|yes|deal|sounds good|fine by me|i support|let'?s do)\b", re.I)
_DISAGREE = re.compile(r"\b(disagree|don'?t agree|do not agree|not agree)\b", re.I)
_NUMBER = re.compile(r"\d+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def proposed_limit(text: str) -> int | None:
    """The per-person limit an utterance proposes, if it names one."""
    for sentence in _SENTENCE.split(text or ""):
        if _LIMIT_WORDS.search(sentence):
            number = _NUMBER.search(sentence)
            if number:
                return int(number.group())
    return None


def agrees(text: str) -> bool:
    return bool(_AGREE_WORDS.search(text or "")) and not _DISAGREE.search(text or "")


def conversation_graph(events: Iterable[dict[str, Any]]) -> nx.DiGraph:
    """Who addressed whom, who proposed a limit and who agreed, from run-log events.

    - nodes: every agent of the run; attributes ``utterances`` (count), ``proposals``
      (list of ``[month, limit]``), ``agreed`` (months in which it backed the limit the
      summary recorded: it proposed that limit or said it agreed), ``proposed``/
      ``agreements`` (the counts of those two lists);
    - edges: utterance speaker -> the next speaker it named, ``weight`` = how often,
      ``months`` = in which months;
    - graph attributes: ``agreed_limits`` ({month: limit} from the summaries) and
      ``months`` (months played).
    """
    graph = nx.DiGraph(agreed_limits={}, months=0)
    said: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        kind = event.get("type")
        if kind == "run_started":
            graph.add_nodes_from(event.get("agents") or {})
        elif kind == "month_started":
            graph.add_nodes_from(event.get("agents") or [])
            graph.graph["months"] = max(graph.graph["months"], int(event.get("month") or 0))
        elif kind == "agent_joined":
            graph.add_node(event["agent"])
        elif kind == "utterance":
            _add_utterance(graph, event)
            said[event.get("month", 0)].append(event)
        elif kind == "summary" and int(event.get("agreed_limit", NO_LIMIT)) >= 0:
            graph.graph["agreed_limits"][event.get("month", 0)] = int(event["agreed_limit"])
    for node in graph.nodes:
        graph.nodes[node].setdefault("utterances", 0)
        graph.nodes[node].setdefault("proposals", [])
        graph.nodes[node]["agreed"] = []
    for month, limit in graph.graph["agreed_limits"].items():
        for event in said.get(month, []):
            agent = graph.nodes[event["agent"]]
            if month not in agent["agreed"] and (proposed_limit(event.get("text", "")) == limit or agrees(event.get("text", ""))):
                agent["agreed"].append(month)
    for node in graph.nodes:
        graph.nodes[node]["proposed"] = len(graph.nodes[node]["proposals"])
        graph.nodes[node]["agreements"] = len(graph.nodes[node]["agreed"])
    return graph


def _add_utterance(graph: nx.DiGraph, event: dict[str, Any]) -> None:
    speaker, month = event["agent"], event.get("month", 0)
    graph.add_node(speaker)
    node = graph.nodes[speaker]
    node["utterances"] = node.get("utterances", 0) + 1
    limit = proposed_limit(event.get("text", ""))
    if limit is not None:
        node.setdefault("proposals", []).append([month, limit])
    target = event.get("next_speaker")
    if target and target != speaker:
        if graph.has_edge(speaker, target):
            edge = graph.edges[speaker, target]
            edge["weight"] += 1
            if month not in edge["months"]:
                edge["months"].append(month)
        else:
            graph.add_edge(speaker, target, weight=1, months=[month])


def run_graph(events: Iterable[dict[str, Any]], config: RunConfig) -> nx.DiGraph:
    """``conversation_graph`` plus the run's communication network (graph attributes
    ``network``, the config string, and ``network_edges``, ``None`` when complete)."""
    graph = conversation_graph(events)
    links = for_config(config)
    graph.graph["network"] = config.network
    graph.graph["network_edges"] = None if links is None else [list(edge) for edge in links.edges()]
    return graph


def graph_to_json(graph: nx.Graph) -> dict[str, Any]:
    """Node-link JSON (``nodes``/``edges`` keys), as saved in ``graph.json``."""
    data = nx.node_link_data(graph, edges="edges")
    data["graph"] = {
        k: ({str(m): v for m, v in val.items()} if isinstance(val, dict) else val) for k, val in data["graph"].items()
    }
    return data


def graph_from_json(data: dict[str, Any]) -> nx.Graph:
    """The graph back from ``graph_to_json`` (month keys of ``agreed_limits`` as ints)."""
    graph = nx.node_link_graph(data, edges="edges")
    limits = graph.graph.get("agreed_limits")
    if isinstance(limits, dict):
        graph.graph["agreed_limits"] = {int(m): v for m, v in limits.items()}
    return graph
