"""A fuzzer for commons_v0: random, malformed and random-typed actions against the env's promises.

At every step each agent sends an action drawn at random: one in the action space, one
with random values of random types (NaN, inf, huge ints, complex, numeric and other
strings, lone surrogates, a megabyte of text, bytes, arrays of any shape, objects whose
``repr`` raises, ...), keys left out, or no dict at all. The promises checked:

- ``step`` never raises, nor does resuming from a month's ``state_dict`` (JSON round trip);
- every observation lies in the observation space;
- every value the env reads that is not in the action space's own form, or not in range,
  is an ``invalid_action`` event for that agent and key; a value in its own form and in
  range is used as given and not recorded (no silent coercion either way);
- every value the declared action space contains (``envs/spaces.py``) is in its own form,
  and so are the space's samples, which the fuzzer sends too;
- every event is strict JSON (no NaN) and UTF-8-encodable, and an invalid_action event
  stays short whatever it copies.

``fuzz(overrides, steps, seed)`` plays one config; ``CONFIGS`` are those the tests and
``experiments/fuzz_env.py`` play, the institutions (election, sanctions, both, and both
with a newcomer who is a candidate before it joins) among them. A broken promise raises ``FuzzFailure`` naming the step.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from envs import commons_v0
from govsim import institutions
from govsim.institutions.election import AGENDA, AGENDA_LIMIT, VOTE
from govsim.institutions.sanctions import SANCTION
from govsim.phases import (
    AGREED_LIMIT,
    END_CONVERSATION,
    HARVEST,
    NEXT_SPEAKER,
    REFLECTION,
    SUMMARY,
    UTTERANCE,
    Phase,
)

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "no_communication": {"experiment": "no_communication"},
    "universalization": {"experiment": "universalization"},
    "greedy_newcomer": {"experiment": "greedy_newcomer", "months": 4},
    "ring_network": {"network": "ring", "n_agents": 6},
    "election": {"institutions": ["election"], "election": {"term": 2}},
    "sanctions": {"institutions": ["sanctions"]},
    "election_sanctions": {"institutions": ["election", "sanctions"], "network": "ring", "n_agents": 6},
    "institutions_newcomer": {
        "experiment": "greedy_newcomer", "months": 4, "institutions": ["election", "sanctions"],
        "election": {"term": 1, "candidates": ["John", "Luke"]},
    },
}
KEYS = institutions.action_keys()  # what each phase reads, the institutions' too
AMOUNTS, FLAGS, TEXTS = {HARVEST, AGREED_LIMIT, AGENDA_LIMIT}, {END_CONVERSATION}, {UTTERANCE, SUMMARY, REFLECTION, AGENDA}
SEATS = {NEXT_SPEAKER, VOTE}  # a seat index, or a name
MAX_INVALID_EVENT = 1000  # characters of one invalid_action event as JSON
MEGABYTE_TEXT = "x" * 1_000_000
_SURROGATE = re.compile("[\ud800-\udfff]")


class FuzzFailure(AssertionError):
    """A promise of the env broken; the message names the config, step, agent and key."""


class _Evil:
    """A value whose every conversion raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __int__ = __float__ = __index__ = __repr__


@dataclass
class Figures:
    steps: int = 0
    episodes: int = 0
    months: int = 0
    resumes: int = 0
    values_sent: int = 0
    invalid_actions: int = 0
    elections: int = 0  # election events (institution configs)
    fines: int = 0  # sanction events (institution configs)
    seconds: float = 0.0

    def add(self, other: Figures) -> None:
        for key in vars(self):
            setattr(self, key, getattr(self, key) + getattr(other, key))


def random_value(rng: np.random.Generator, names: list[str]) -> Any:
    """One value of a random type, often malformed."""
    kind = int(rng.integers(24))
    small = int(rng.integers(-5, 130))
    return [
        small,
        np.array([small]).astype(rng.choice(["int64", "int32", "uint8", "float64", "bool", "object"])),
        float(rng.choice([0.9, -0.5, 7.0, 1e308, -1e308, 3.25])),
        rng.choice([float("nan"), float("inf"), float("-inf")]),
        np.float16(rng.normal(10, 20)),
        10 ** int(rng.integers(18, 5000)) * int(rng.choice([-1, 1])),
        bool(rng.integers(2)),
        complex(small, 3),
        str(small),
        rng.choice([" 7.5 ", "1e2", "nan", "-inf", "lots", "", "1_000", "\ud800", "7\udc00"]),
        "".join(chr(int(c)) for c in rng.integers(0, 0x11000, size=int(rng.integers(0, 50)))),
        MEGABYTE_TEXT if rng.random() < 0.2 else "y" * int(rng.integers(1990, 2100)),
        bytes(rng.integers(0, 256, size=int(rng.integers(0, 20)), dtype=np.uint8)),
        None,
        [small],
        (small, small),
        [],
        {"harvest": small},
        np.zeros(int(rng.integers(0, 4)), dtype=int),
        np.array([[small]]),
        Fraction(small, 3),
        rng.choice([Decimal("NaN"), Decimal("2.5"), Decimal("1E+100000")]),
        _Evil(),
        str(rng.choice(names + ["Nobody", ""])) if rng.random() < 0.5 else int(rng.integers(-2, len(names) + 2)),
    ][kind]


def in_space_value(key: str, rng: np.random.Generator, env: commons_v0.CommonsEnv) -> Any:
    """A value of the action space's own form, mostly in range."""
    if rng.random() < 0.1:
        return env.action_space(env.agents[0])[key].sample()  # seeded from the fuzz's seed
    if key in AMOUNTS:  # mostly small, so episodes last months (and newcomers join)
        return int(rng.integers(-1, env.commons.stock + 2)) if rng.random() < 0.2 else np.array([rng.integers(0, 6)])
    if key in FLAGS:
        return int(rng.random() < 0.3)
    if key in SEATS:
        return int(rng.integers(len(env.possible_agents))) if rng.random() < 0.5 else str(rng.choice(env.possible_agents))
    if key == SANCTION:  # a mask mostly, else names (present or not)
        if rng.random() < 0.6:
            return rng.integers(0, 2, size=len(env.possible_agents)).astype(np.int8)
        return [str(n) for n in rng.choice(env.possible_agents, size=int(rng.integers(0, 3)))]
    return f"I {int(rng.integers(100))} fine \u2014 \U0001F41F"


def random_action(key_set: tuple[str, ...], rng: np.random.Generator, env: commons_v0.CommonsEnv) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return random_value(rng, env.possible_agents)  # not a dict at all
    action: dict[str, Any] = {}
    for key in key_set:
        draw = rng.random()
        if draw < 0.1:
            continue  # left out
        action[key] = in_space_value(key, rng, env) if roll < 0.45 else random_value(rng, env.possible_agents)
    if rng.random() < 0.1:
        action["unasked"] = random_value(rng, env.possible_agents)
    return action


def own_form(key: str, value: Any) -> bool:
    """Whether ``value`` is in the action space's own form for ``key`` (range aside)."""
    if key in TEXTS:
        return isinstance(value, str) and not _SURROGATE.search(value)
    if key == SANCTION:  # a 0/1 mask (its length is the range), a name, or a list of names
        if isinstance(value, np.ndarray):
            return value.ndim == 1 and value.dtype.kind in "iub" and bool(np.isin(value, (0, 1)).all())
        return isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))
    if isinstance(value, np.ndarray):
        if value.shape != (1,) or not (np.issubdtype(value.dtype, np.integer) or (key in FLAGS and value.dtype == bool)):
            return False
        value = value[0]
    if isinstance(value, (bool, np.bool_)):
        return key in FLAGS
    if key in SEATS and isinstance(value, str):
        return True
    return isinstance(value, (int, np.integer))


def fuzz(overrides: dict[str, Any], steps: int, seed: int = 0, name: str = "") -> Figures:
    """Play ``steps`` fuzzed steps of the env built from ``overrides``; raise FuzzFailure on a broken promise."""
    rng = np.random.default_rng(seed)
    figures = Figures(episodes=1)
    started = time.perf_counter()
    env = commons_v0.parallel_env(**overrides, seed=seed)
    observations, infos = env.reset(seed=seed)
    env.action_space(env.possible_agents[0]).seed(seed)
    for step in range(steps):
        where = f"{name or overrides} step {step}"
        if not env.agents:
            figures.episodes += 1
            observations, infos = env.reset(seed=int(rng.integers(2**31)))
        if env.phase == Phase.HARVEST and rng.random() < 0.2:
            state = json.loads(json.dumps(env.state_dict(), allow_nan=False))
            env = commons_v0.parallel_env(**overrides, seed=seed)
            env.action_space(env.possible_agents[0]).seed(int(rng.integers(2**31)))
            observations, infos = env.load_state_dict(state)
            figures.resumes += 1
        phase = env.phase
        actions = {a: random_action(KEYS[phase], rng, env) for a in env.agents if rng.random() > 0.05}
        read = {a: actions.get(a) for a in env.agents if infos[a]["acting"]}  # None: no action at all
        try:
            observations, _, _, _, infos = env.step(actions)
        except Exception as exc:
            raise FuzzFailure(f"{where}: step raised {type(exc).__name__}: {exc}") from exc
        events = env.drain_events()
        figures.steps += 1
        figures.months += sum(e["type"] == "month_started" for e in events)
        figures.elections += sum(e["type"] == "election" for e in events)
        figures.fines += sum(e["type"] == "sanction" for e in events)
        figures.invalid_actions += _check(where, env, phase, read, events, observations)
        figures.values_sent += len(read) * len(KEYS[phase])
    figures.seconds = time.perf_counter() - started
    return figures


def _check(where: str, env, phase: Phase, read: dict[str, Any], events: list[dict], observations) -> int:
    for agent, obs in observations.items():
        if not env.observation_space(agent).contains(obs):
            raise FuzzFailure(f"{where}: {agent}'s observation is outside the observation space")
    invalid: dict[tuple[str, str], list[dict]] = {}
    for event in events:
        try:
            line = json.dumps(event, ensure_ascii=False, allow_nan=False)
            line.encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise FuzzFailure(f"{where}: a {event.get('type')} event is not JSON/UTF-8 ({exc})") from None
        if event["type"] == "invalid_action":
            if len(line) > MAX_INVALID_EVENT:
                raise FuzzFailure(f"{where}: an invalid_action event of {len(line)} characters")
            invalid.setdefault((event["agent"], event["key"]), []).append(event)
    used = _used_values(events)
    for agent, action in read.items():
        for key in KEYS[phase]:
            if used.get((agent, key)) is _NOT_READ:
                continue
            value = action.get(key) if isinstance(action, dict) else None
            flagged = (agent, key) in invalid
            if isinstance(action, dict) and key in action and env.action_space(agent)[key].contains(value) \
                    and not own_form(key, value):
                raise FuzzFailure(f"{where}: the action space's {key} contains {_short(value)}, not a form the env reads")
            if not isinstance(action, dict) or key not in action or not own_form(key, value):
                if not flagged:
                    raise FuzzFailure(f"{where}: {agent} sent {key}={_short(value)}, used without an invalid_action")
                continue
            got = used.get((agent, key), _UNSEEN)
            if not flagged and got is not _UNSEEN and not _same(key, value, got, env.possible_agents):
                raise FuzzFailure(f"{where}: {agent} sent {key}={_short(value)} and the env used {_short(got)} unrecorded")
    return sum(len(v) for v in invalid.values())


_UNSEEN = object()
_NOT_READ = object()


def _used_values(events: list[dict]) -> dict[tuple[str, str], Any]:
    """What the env used, read from its events."""
    used: dict[tuple[str, str], Any] = {}
    for e in events:
        agent = e.get("agent")
        if e["type"] == "harvest":
            used[(agent, HARVEST)] = e.get("wanted")
        elif e["type"] == "utterance":
            used[(agent, UTTERANCE)] = e.get("text")
            used[(agent, END_CONVERSATION)] = e.get("end")
            # a speaker who ends the talk names nobody: the env does not read next_speaker then
            used[(agent, NEXT_SPEAKER)] = _NOT_READ if e.get("end") is True else e.get("next_speaker")
        elif e["type"] == "summary":
            used[(agent, SUMMARY)] = e.get("text")
            used[(agent, AGREED_LIMIT)] = e.get("agreed_limit")
        elif e["type"] == "reflection":
            used[(agent, REFLECTION)] = e.get("text")
        elif e["type"] == "agenda":
            used[(agent, AGENDA_LIMIT)] = e.get("limit")
            used[(agent, AGENDA)] = e.get("text")
        elif e["type"] == "vote":
            used[(agent, VOTE)] = e.get("candidate")
        elif e["type"] == "sanctions_done":
            for who, targets in e["given"].items():
                used[(who, SANCTION)] = targets
    return used


def _same(key: str, sent: Any, got: Any, seats: list[str]) -> bool:
    """Whether the env used what was sent (an in-form value it did not record)."""
    if key == SANCTION:
        names = sent if isinstance(sent, (list, tuple)) else [sent] if isinstance(sent, str) else None
        if names is None:  # a mask
            names = [s for s, flag in zip(seats, sent.tolist()) if flag]
        return sorted(names) == sorted(got)
    if isinstance(sent, np.ndarray):
        sent = sent[0]
    if key in SEATS:
        return got == (sent if isinstance(sent, str) else seats[int(sent)] if 0 <= sent < len(seats) else None)
    if key in FLAGS:
        return bool(sent) == bool(got)
    return sent == got if key in TEXTS else int(sent) == got


def _short(value: Any) -> str:
    from envs.actions import shown

    return str(shown(value))[:80]
