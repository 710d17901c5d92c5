"""Communication networks and conversation graphs."""

import json

import networkx as nx
import pytest

from govsim import config, network, runner
from govsim.config import ConfigError
from govsim.runlog import read_run

NAMES = ["John", "Kate", "Jack", "Emma", "Luke"]


def utterance(month, agent, text, nxt):
    return {"type": "utterance", "month": month, "agent": agent, "text": text, "next_speaker": nxt, "end": False}


def test_conversation_graph_counts_addresses_proposals_and_agreement():
    events = [
        {"type": "run_started", "agents": {n: "x" for n in NAMES[:3]}},
        {"type": "month_started", "month": 1, "agents": NAMES[:3]},
        utterance(1, "John", "I caught 12 tons. I propose each of us takes at most 8 tons.", "Kate"),
        utterance(1, "Kate", "Yes, I agree with that.", "John"),
        utterance(1, "John", "Good.", "Kate"),
        utterance(1, "Jack", "I caught 30 tons and will keep to my plan.", "John"),
        {"type": "summary", "month": 1, "agent": "John", "text": "...", "agreed_limit": 8},
        {"type": "month_started", "month": 2, "agents": NAMES[:3]},
        utterance(2, "Jack", "Let us cap it: no more than 5 tons per person.", "Kate"),
        {"type": "summary", "month": 2, "agent": "John", "text": "...", "agreed_limit": -1},
    ]
    graph = network.conversation_graph(events)
    assert set(graph.nodes) == {"John", "Kate", "Jack"}
    assert graph.edges["John", "Kate"]["weight"] == 2 and graph.edges["Kate", "John"]["weight"] == 1
    assert graph.edges["Jack", "Kate"]["months"] == [2]
    assert graph.nodes["John"]["proposals"] == [[1, 8]] and graph.nodes["Jack"]["proposals"] == [[2, 5]]
    assert graph.nodes["Kate"]["proposed"] == 0
    assert graph.nodes["John"]["agreed"] == [1] and graph.nodes["Kate"]["agreed"] == [1]
    assert graph.nodes["Jack"]["agreed"] == []
    assert graph.graph == {"agreed_limits": {1: 8}, "months": 2}
    again = network.graph_from_json(json.loads(json.dumps(network.graph_to_json(graph))))
    assert nx.utils.graphs_equal(graph, again) and again.graph["agreed_limits"] == {1: 8}


def test_proposal_and_agreement_heuristics():
    assert network.proposed_limit("I caught 10 tons this month. I propose that each of us takes at most 7 tons.") == 7
    assert network.proposed_limit("I caught 10 tons this month.") is None
    assert network.agrees("Sounds good to me") and not network.agrees("I disagree, that is too low")
