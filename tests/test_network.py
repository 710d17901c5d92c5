"""Communication networks and conversation graphs."""

import json

import networkx as nx
import pytest

from envs import commons_v0
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


@pytest.mark.parametrize(
    "spec, edges",
    [
        ("ring", {("John", "Kate"), ("Kate", "Jack"), ("Jack", "Emma"), ("Emma", "Luke"), ("John", "Luke")}),
        ("star:center=Jack", {("John", "Jack"), ("Kate", "Jack"), ("Jack", "Emma"), ("Jack", "Luke")}),
    ],
)
def test_fixed_networks(spec, edges):
    graph = network.build(spec, NAMES)
    assert {tuple(sorted(e, key=NAMES.index)) for e in graph.edges()} == {tuple(sorted(e, key=NAMES.index)) for e in edges}
    assert network.build("complete", NAMES) is None


@pytest.mark.parametrize("spec", ["small_world:k=2,p=0.5", "random:p=0.3"])
def test_random_networks_are_seeded_and_connected(spec):
    first, again, other = (network.build(spec, NAMES, seed=s) for s in (1, 1, 2))
    assert sorted(first.edges()) == sorted(again.edges()) and nx.is_connected(first)
    assert list(first.nodes) == NAMES
    assert any(sorted(network.build(spec, NAMES, seed=s).edges()) != sorted(first.edges()) for s in range(2, 8))
    assert sorted(network.build(spec + ",seed=5", NAMES, seed=1).edges()) == sorted(network.build(spec, NAMES, seed=5).edges())


def test_graph_files(tmp_path):
    edges = tmp_path / "net.edgelist"
    edges.write_text("# who talks to whom\nJohn Kate\nKate Jack\nJack Emma\nEmma Luke\n")
    assert network.build(str(edges), NAMES).number_of_edges() == 4
    graphml = tmp_path / "net.graphml"
    nx.write_graphml(nx.Graph([("John", "Luke"), ("Kate", "Jack"), ("Jack", "Emma"), ("Emma", "Luke")]), graphml)
    assert network.build(str(graphml), NAMES).has_edge("Luke", "John")
    edges.write_text("John Kate\nKate Bob\n")
    with pytest.raises(ConfigError, match="Bob are not seats"):
        network.build(str(edges), NAMES)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("mesh", "unknown 'mesh'"),
        ("ring:k=2", "unknown parameter 'k'"),
        ("small_world:k=7", r"k must be in \[2, 4\]"),
        ("random:p=x", "p must be a number"),
        ("star:center=Bob", "center 'Bob' is not a seat"),
        ("graphs/missing.graphml", "does not exist"),
    ],
)
def test_bad_network_specs_fail_with_one_line(spec, message):
    with pytest.raises(ConfigError, match=message) as err:
        network.build(spec, NAMES)
    assert "\n" not in str(err.value)


def test_ring_differs_from_complete_only_in_who_talks(tmp_path):
    runs = {}
    for net in ("complete", "ring"):
        cfg = config.resolve(overrides={"agent": "conditional", "network": net, "months": 3, "seed": 4})
        runner.run(cfg, tmp_path / net)
        runs[net] = read_run(tmp_path / net)
    harvests = {net: [(e["month"], e["agent"], e["caught"]) for e in run.of_type("harvest")] for net, run in runs.items()}
    assert harvests["ring"] == harvests["complete"]
    ring = network.build("ring", NAMES)
    for e in runs["ring"].of_type("utterance"):
        assert e["end"] or ring.has_edge(e["agent"], e["next_speaker"])  # who ends the talk names nobody
    assert not runs["ring"].of_type("invalid_action")  # scripted agents name only neighbours
    assert not runs["complete"].of_type("invalid_action")
    saved = network.graph_from_json(json.loads((tmp_path / "ring" / "graph.json").read_text()))
    assert saved.graph["network"] == "ring" and len(saved.graph["network_edges"]) == 5
    assert all(ring.has_edge(a, b) for a, b in saved.edges())
    complete = json.loads((tmp_path / "complete" / "graph.json").read_text())
    assert complete["graph"]["network_edges"] is None and complete["graph"]["agreed_limits"]


def test_agents_hear_only_their_neighbours():
    env = commons_v0.parallel_env(agent="conditional", network="ring", seed=0)
    _, infos = env.reset(seed=0)
    assert infos["John"]["neighbours"] == ["Kate", "Luke"]
    _, _, _, _, infos = env.step({a: {"harvest": 5} for a in env.agents})
    speaker = infos["John"]["speaker"]
    nxt = infos[speaker]["neighbours"][0]
    turn = {"utterance": "hello", "next_speaker": NAMES.index(nxt), "end_conversation": 0}
    observations, _, _, _, infos = env.step({speaker: turn})
    ring = network.build("ring", NAMES)
    for agent in NAMES:
        heard = [t["speaker"] for t in infos[agent]["conversation"]]
        assert heard == ([speaker] if agent == speaker or ring.has_edge(agent, speaker) else [])
        assert ("hello" in observations[agent]["conversation"]) == bool(heard)
    full = commons_v0.parallel_env(agent="conditional", seed=0)
    _, infos = full.reset(seed=0)
    assert infos["John"]["neighbours"] == ["Kate", "Jack", "Emma", "Luke"]


def test_naming_a_non_neighbour_is_replaced_and_recorded():
    env = commons_v0.parallel_env(network="ring", months=1)
    env.reset(seed=0)
    env.step({a: {"harvest": 1} for a in env.agents})
    speaker = env.speaker
    ring = network.build("ring", NAMES)
    stranger = next(a for a in NAMES if a != speaker and not ring.has_edge(speaker, a))
    _, _, _, _, infos = env.step(
        {a: {"utterance": "hi", "next_speaker": NAMES.index(stranger), "end_conversation": 0} for a in env.agents}
    )
    assert ring.has_edge(speaker, env.speaker)
    assert any("not a neighbour present" in line for line in infos[speaker]["invalid"])
