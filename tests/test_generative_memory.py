"""The memory stream and retrieval as the reference GovSim runs them, and govsim's fixes as options."""

import asyncio
import json
from datetime import datetime

import numpy as np
import pytest

from agents.generative.memory import LIFETIME, MemoryStream, Month, expiry_for
from agents.generative.retrieval import Scoring, candidates, normalise, retrieve, scores, top
from govsim.llm.embed import HashEmbedder

UNIT = np.eye(4, dtype=np.float32)
DIAGONAL = (UNIT[0] + UNIT[1]) / np.sqrt(2)
JAN, FEB, APR = Month.of("2024-01-01"), Month.of("2024-02-01"), Month.of("2024-04-01")


def at(text):
    return datetime.fromisoformat(text)


def stream_of(*specs, created=JAN.harvest):
    """specs: (kind, importance, embedding[, always_relevant])."""
    stream = MemoryStream()
    stream.now = created
    for kind, importance, vector, *always in specs:
        stream.add(kind, f"{kind} {len(stream)}", importance, vector, month=1, always_relevant=bool(always and always[0]))
    return stream


# ---------------------------------------------------------------- the calendar and expiry


def test_the_months_times_follow_the_reference_calendar():
    assert (JAN.harvest, JAN.catch_report, JAN.talk, JAN.home) == (
        at("2024-01-01 01:00"), at("2024-01-30 00:59"), at("2024-01-30 01:00"), at("2024-01-31 01:00")
    )
    assert (FEB.talk, FEB.home) == (at("2024-02-28 01:00"), at("2024-02-29 01:00"))  # 2024 is a leap year
    assert Month.of("2024-01-30") == JAN  # any day of the month names the month (the env dates its phases)
    assert Month.of("2025-12-01").home == at("2025-12-31 01:00")


def test_observations_expire_at_the_months_end_and_thoughts_after_63_days():
    stream = MemoryStream()
    stream.now = JAN.harvest
    stock = stream.add("event", "100 tons in the lake", 10, UNIT[0], 1)
    catch = stream.add("event", "I caught 10", 10, UNIT[0], 1, created=JAN.catch_report)
    thought = stream.add("thought", "keep to 10", 5, UNIT[1], 1, created=JAN.talk)
    assert stock.expiry == catch.expiry == JAN.home and thought.expiry == at("2024-04-02 01:00") == JAN.talk + LIFETIME
    for now, live in [
        (JAN.harvest, [stock, catch, thought]),
        (JAN.talk, [stock, catch, thought]),
        (JAN.home, [thought]),  # the home reflection no longer sees the month's observations
        (APR.harvest, [thought]),  # 2024-04-01: 62 days on
        (at("2024-04-02 01:00"), []),  # 63 days on
    ]:
        stream.now = now
        assert stream.live() == live, now
    assert expiry_for("chat", JAN.talk) == expiry_for("action", JAN.talk) == JAN.talk + LIFETIME


def test_stream_rejects_bad_memories_and_round_trips_through_json():
    stream = stream_of(("event", 3, UNIT[0]), ("thought", 7, UNIT[1]))
    stream.memories[1].cites = (0,)
    with pytest.raises(ValueError, match="kind"):
        stream.add("dream", "x", 5, UNIT[0], month=1)
    with pytest.raises(ValueError, match="outside"):
        stream.add("event", "x", 11, UNIT[0], month=1)
    odd = np.random.default_rng(0).standard_normal(8).astype(np.float32)
    stream.add("event", "odd", 5, odd, month=1, always_relevant=True)
    copy = MemoryStream()
    copy.load_state_dict(json.loads(json.dumps(stream.state_dict())))
    assert copy.now == stream.now and len(copy) == 3
    for a, b in zip(copy, stream):
        fields = ("created", "expiry", "kind", "cites", "always_relevant")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert np.array_equal(copy.memories[2].embedding, odd)  # exact, so a resumed run recalls the same


# ---------------------------------------------------------------- the score, worked by hand

HAND = [("event", 4, UNIT[0]), ("chat", 9, UNIT[0]), ("thought", 7, UNIT[1]), ("action", 1, DIAGONAL)]


def test_paper_score_by_hand_oldest_highest_and_chats_left_out():
    stream = stream_of(*HAND)
    pool = candidates(stream.memories, stream.now)
    assert [m.kind for m in pool] == ["event", "thought", "action"]  # the chat is never a candidate
    expected = [
        0.5 * 1 + 3 * 3 / 9 + 2 * 1,  # event: i = 0, the oldest, gets 0.99**0
        0.5 * 0.99 + 3 * 6 / 9 + 2 * 0,  # thought: i = 1
        0.5 * 0.99**2 + 3 * 0 / 9 + 2 * np.sqrt(0.5),  # action: i = 2
    ]
    assert np.allclose(scores(pool, UNIT[0]), expected)  # 3.5, 2.495, 1.904: not normalised
    same = stream_of(*[("event", 5, UNIT[0])] * 4)
    s = scores(candidates(same.memories, same.now), UNIT[0])
    assert list(np.argsort(-s, kind="stable")) == [0, 1, 2, 3]  # all else equal, the OLDEST scores highest
    assert [m.id for m in retrieve(same.memories, [UNIT[0]], same.now, k=2)] == [0, 1]


def test_fixed_recency_and_retrievable_chats_by_hand():
    stream = stream_of(*HAND)
    fixed = Scoring(fixed_recency=True, retrievable_chats=True)
    pool = candidates(stream.memories, stream.now, fixed)
    assert [m.kind for m in pool] == ["event", "chat", "thought", "action"]
    expected = [
        0.5 * 0.99**3 + 3 * 3 / 9 + 2 * 1,  # the oldest now gets the smallest recency
        0.5 * 0.99**2 + 3 * 8 / 9 + 2 * 1,
        0.5 * 0.99 + 3 * 6 / 9 + 0,
        0.5 * 1 + 0 + 2 * np.sqrt(0.5),  # the newest: 0.99**0
    ]
    assert np.allclose(scores(pool, UNIT[0], fixed), expected)
    assert [m.kind for m in top(pool, UNIT[0], 1, fixed)] == ["chat"]
    same = stream_of(*[("event", 5, UNIT[0])] * 4)
    assert [m.id for m in retrieve(same.memories, [UNIT[0]], same.now, k=2, scoring=fixed)] == [2, 3]


def test_normalised_retrieval_by_hand():
    stream = stream_of(*HAND)
    normalised = Scoring(normalised=True)
    pool = candidates(stream.memories, stream.now, normalised)
    recency = normalise(np.array([1, 0.99, 0.99**2]))  # [1, 0.4975..., 0]
    importance = np.array([3 / 6, 1, 0])  # importances 4, 7, 1 min-max
    relevance = np.array([1, 0, np.sqrt(0.5)])
    assert np.allclose(recency, [1, (0.99 - 0.9801) / (1 - 0.9801), 0])
    assert np.allclose(scores(pool, UNIT[0], normalised), 0.5 * recency + 3 * importance + 2 * relevance)
    assert list(normalise(np.array([3.0, 3.0]))) == [0.0, 0.0]


def test_always_relevant_score_first_but_count_against_k():
    stream = stream_of(("event", 9, UNIT[0]), ("thought", 1, UNIT[3], True), ("event", 9, UNIT[0]))
    pool = candidates(stream.memories, stream.now)
    assert [m.id for m in top(pool, UNIT[0], 2)] == [1, 0]  # the best other score plus one
    assert [m.id for m in retrieve(stream.memories, [UNIT[0]], stream.now, k=1)] == [1]
    many = stream_of(*[("event", 1, UNIT[i % 4], True) for i in range(6)])
    assert [m.id for m in retrieve(many.memories, [UNIT[2]], many.now, k=5)] == [0, 1, 2, 3, 4]  # stored order


def test_focal_points_are_pooled_once_each_by_date_then_stored_order():
    stream = MemoryStream()
    stream.now = JAN.talk
    late = stream.add("event", "caught", 5, UNIT[0], 1, created=JAN.catch_report)
    early = stream.add("thought", "plan", 5, UNIT[1], 1, created=JAN.harvest)
    same_day = stream.add("thought", "memo", 5, UNIT[2], 1, created=JAN.harvest)
    stream.add("thought", "other", 1, UNIT[3], 1, created=JAN.harvest)
    picked = retrieve(stream.memories, [UNIT[0], UNIT[1], UNIT[2], UNIT[0]], stream.now, k=1)
    assert picked == [early, same_day, late]  # by date, ties in stored order, each once
    assert retrieve([], [UNIT[0]], stream.now, k=3) == [] and retrieve(stream.memories, [], stream.now, k=3) == []


def test_retrieval_is_deterministic():
    emb = HashEmbedder()
    texts = [f"memory {i % 3} about the lake" for i in range(12)]

    def once():
        stream = MemoryStream()
        vectors = asyncio.run(emb.embed(texts + ["lake"]))
        for i, (text, vector) in enumerate(zip(texts, vectors)):
            stream.add("thought", text, 1 + i % 3, vector, 1, created=JAN.harvest)  # many ties
        return [m.id for m in retrieve(stream.memories, [vectors[-1], vectors[0]], stream.now, k=5)]

    assert once() == once()
