"""commons_v0's action spaces hold what agents send (envs/spaces.py), and the env reads it as given."""

import numpy as np
import pytest
from gymnasium import spaces

from envs import commons_v0, fuzz
from envs.spaces import Amount, Flag, Seat, Seats, Words
from govsim.institutions.election import AGENDA, AGENDA_LIMIT, VOTE
from govsim.institutions.sanctions import SANCTION
from govsim.phases import AGREED_LIMIT, END_CONVERSATION, HARVEST, NEXT_SPEAKER, REFLECTION, SUMMARY, UTTERANCE

NAMES = ["John", "Kate", "Jack", "Emma", "Luke"]


def full_env():
    return commons_v0.parallel_env(institutions=["election", "sanctions"])


def test_each_key_is_declared_by_the_space_of_its_kind():
    space = full_env().action_space("John")
    kinds = {HARVEST: Amount, AGREED_LIMIT: Amount, AGENDA_LIMIT: Amount, END_CONVERSATION: Flag, NEXT_SPEAKER: Seat,
             VOTE: Seat, SANCTION: Seats, UTTERANCE: Words, SUMMARY: Words, REFLECTION: Words, AGENDA: Words}
    assert {key: type(sub) for key, sub in space.items()} == kinds
    assert space[NEXT_SPEAKER].names == tuple(NAMES) and repr(space[VOTE]) == "Seat(John, Kate, Jack, Emma, Luke)"
    assert space[NEXT_SPEAKER] == Seat(NAMES) and space[NEXT_SPEAKER] != spaces.Discrete(5) != space[NEXT_SPEAKER]
    assert space[HARVEST] != spaces.Box(0, 100, shape=(1,), dtype=np.int64)


IN_AND_OUT = {
    NEXT_SPEAKER: (["Kate", 0, 4, np.int64(2), np.array([1])],
                   ["Nobody", "", "0", 5, -1, True, 1.0, [1], np.array([[1]]), None]),
    SANCTION: (["Luke", [], ["Luke", "Kate"], ("Jack",), np.array([0, 0, 0, 0, 1], dtype=np.int8), np.zeros(5, bool)],
               [["Luke", "Luke"], ["Zoe"], [0, 0, 0, 0, 1], np.array([0, 2, 0, 0, 0]), np.ones(4, int), 4, None]),
    HARVEST: ([0, 7, 100, np.int32(7), np.array([7]), np.array([7], dtype=np.int32)],
              [101, -1, 7.0, "7", True, [7], (7,), np.array([7.0]), np.array([True]), np.array([[7]]), 10**30, None]),
    AGREED_LIMIT: ([-1, 0, 100], [-2, 101]),
    END_CONVERSATION: ([0, 1, True, False, np.bool_(True), np.array([1])], [2, -1, "yes", 0.0, None]),
    UTTERANCE: (["", "Ten each \u2014 \U0001F41F", "\u4e09 tons", "x" * 2000], ["x" * 2001, "7\udc00", b"bytes", 7, None]),
}


@pytest.mark.parametrize("key", list(IN_AND_OUT))
def test_a_space_contains_the_forms_agents_send_and_nothing_the_env_would_coerce(key):
    space = full_env().action_space("John")[key]
    inside, outside = IN_AND_OUT[key]
    assert [v for v in inside if not space.contains(v)] == []
    assert [v for v in outside if space.contains(v)] == []


def test_what_a_space_contains_or_samples_is_a_form_the_env_reads_as_given():
    """The fuzzer's model of the env's own forms (checked against the env at every fuzzed step) covers
    every value a space contains, of everything the fuzzer draws, and every sample."""
    env = full_env()
    env.reset(seed=0)
    space = env.action_space("John")
    space.seed(0)
    rng = np.random.default_rng(0)
    contained = 0
    for _ in range(300):
        sample = space.sample()
        for key, sub in space.items():
            assert sub.contains(sample[key]) and fuzz.own_form(key, sample[key]), (key, sample[key])
            for value in (fuzz.random_value(rng, NAMES), fuzz.in_space_value(key, rng, env)):
                if sub.contains(value):
                    contained += 1
                    assert fuzz.own_form(key, value), (key, value)
    assert contained > 1000


def test_names_and_indices_are_read_alike_and_unrecorded():
    said = []
    for nxt in ("Jack", 2, np.int64(2), np.array([2])):
        env = commons_v0.parallel_env(n_agents=3)
        env.reset(seed=0)
        env.step({a: {HARVEST: 1} for a in env.agents})
        env.drain_events()
        env.step({env.speaker: {UTTERANCE: "hi", END_CONVERSATION: False, NEXT_SPEAKER: nxt}})
        events = env.drain_events()
        assert not [e for e in events if e["type"] == "invalid_action"], nxt
        said += [e["next_speaker"] for e in events if e["type"] == "utterance"]
    assert said == ["Jack"] * 4


def test_samples_are_the_base_spaces_draws():
    """Samplers see the Gymnasium space they know: the same draws as before the spaces said more."""
    ours = Seat(NAMES), Seats(NAMES), Amount(-1, 100), Flag(), Words(50, commons_v0.CHARSET)
    base = (spaces.Discrete(5), spaces.MultiBinary(5), spaces.Box(-1, 100, shape=(1,), dtype=np.int64), spaces.Discrete(2),
            spaces.Text(50, charset=commons_v0.CHARSET, min_length=0))
    for mine, theirs in zip(ours, base):
        mine.seed(3)
        theirs.seed(3)
        for _ in range(20):
            assert repr(mine.sample()) == repr(theirs.sample())
