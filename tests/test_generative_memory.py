"""The memory stream and retrieval: newest first, chats included, limits always recalled."""

import asyncio
import json

import numpy as np
import pytest

from agents.generative.memory import MemoryStream
from agents.generative.retrieval import Weights, normalise, retrieve, scores
from govsim.llm.embed import HashEmbedder

UNIT = np.eye(4, dtype=np.float32)


def stream_of(*specs):
    """specs: (kind, importance, embedding, ticks to advance before adding)."""
    stream = MemoryStream()
    for kind, importance, vector, advance in specs:
        for _ in range(advance):
            stream.tick()
        stream.add(kind, f"{kind} {len(stream)}", importance, vector, month=1)
    return stream


def test_newest_memory_scores_highest_when_all_else_is_equal():
    stream = stream_of(*[("event", 5, UNIT[0], 1) for _ in range(5)])
    s = scores(stream.memories, UNIT[0], stream.now)
    assert list(np.argsort(s)) == [0, 1, 2, 3, 4]  # the later a memory was made, the higher it scores
    picked = retrieve(stream.memories, UNIT[0], stream.now, k=2)
    assert [m.id for m in picked] == [3, 4]


def test_weights_importance_beats_recency_and_relevance_beats_recency():
    old_important = ("event", 10, UNIT[1], 1)
    new_plain = ("event", 1, UNIT[1], 5)
    stream = stream_of(old_important, new_plain)
    assert retrieve(stream.memories, UNIT[2], stream.now, k=1)[0].id == 0  # 3 * importance > 0.5 * recency
    stream = stream_of(("event", 5, UNIT[0], 1), ("event", 5, UNIT[1], 5))
    assert retrieve(stream.memories, UNIT[0], stream.now, k=1)[0].id == 0  # 2 * relevance > 0.5 * recency


def test_chats_are_retrievable():
    stream = stream_of(("event", 2, UNIT[1], 1), ("chat", 9, UNIT[0], 1), ("action", 2, UNIT[1], 1))
    assert [m.kind for m in retrieve(stream.memories, UNIT[0], stream.now, k=1)] == ["chat"]


def test_always_relevant_memories_are_always_included_and_expire():
    stream = stream_of(*[("event", 9, UNIT[0], 1) for _ in range(6)])
    limit = stream.add("event", "the limit is 10", 1, UNIT[3], month=1, always_relevant=True)
    picked = retrieve(stream.memories, UNIT[0], stream.now, k=3)
    assert limit in picked and len(picked) == 3
    assert [m.id for m in picked] == sorted(m.id for m in picked)  # oldest first
    stream.expire(limit)
    assert limit not in retrieve(stream.memories, UNIT[3], stream.now, k=3)
    assert limit not in stream.live()


def test_more_always_relevant_than_k_are_all_kept():
    stream = MemoryStream()
    for i in range(3):
        stream.add("event", f"limit {i}", 5, UNIT[0], month=1, always_relevant=True)
    assert len(retrieve(stream.memories, UNIT[0], stream.now, k=2)) == 3


def test_normalise_and_empty_inputs():
    assert list(normalise(np.array([2.0, 4.0, 3.0]))) == [0.0, 1.0, 0.5]
    assert list(normalise(np.array([3.0, 3.0]))) == [0.0, 0.0]
    assert retrieve([], UNIT[0], 0) == []
    assert Weights().recency == 0.5 and Weights().importance == 3 and Weights().relevance == 2


def test_stream_rejects_bad_memories_and_round_trips_through_json():
    stream = stream_of(("event", 3, UNIT[0], 1), ("thought", 7, UNIT[1], 2))
    stream.expire(stream.memories[0])
    with pytest.raises(ValueError):
        stream.add("dream", "x", 5, UNIT[0], month=1)
    with pytest.raises(ValueError):
        stream.add("event", "x", 11, UNIT[0], month=1)
    copy = MemoryStream()
    copy.load_state_dict(json.loads(json.dumps(stream.state_dict())))
    assert copy.now == stream.now and len(copy) == 2
    assert copy.memories[0].expiry == stream.memories[0].expiry
    assert copy.memories[1].kind == "thought"
    odd = np.random.default_rng(0).standard_normal(8).astype(np.float32)
    stream.add("event", "odd", 5, odd, month=1)
    copy.load_state_dict(json.loads(json.dumps(stream.state_dict())))
    assert np.array_equal(copy.memories[2].embedding, odd)  # exact, so a resumed run recalls the same


def test_hash_embedder_is_deterministic_unit_length_and_lexical():
    emb = HashEmbedder()
    a, b, c, empty = asyncio.run(emb.embed(["the lake has fish", "fish in the lake", "widgets pollute rivers", ""]))
    assert np.allclose(np.linalg.norm([a, b, c, empty], axis=1), 1.0)
    assert a @ b > a @ c
    again = asyncio.run(HashEmbedder().embed(["the lake has fish"]))[0]
    assert np.array_equal(a, again)
    assert asyncio.run(emb.embed([])).shape == (0, emb.dim)
