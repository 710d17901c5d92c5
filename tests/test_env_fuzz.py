"""commons_v0 under random, malformed and random-typed actions (envs/fuzz.py holds the fuzzer)."""

import pytest

from envs import commons_v0, fuzz

STEPS = 800  # per config; experiments/fuzz_env.py plays 100,000


@pytest.mark.parametrize("name", list(fuzz.CONFIGS))
def test_the_env_keeps_its_promises_under_fuzzing(name):
    figures = fuzz.fuzz(fuzz.CONFIGS[name], STEPS, seed=list(fuzz.CONFIGS).index(name), name=name)
    assert figures.steps == STEPS
    assert figures.episodes > 1 and figures.months > figures.episodes and figures.resumes > 0
    assert 0 < figures.invalid_actions  # malformed values were sent, and each was recorded (checked per step)


def test_the_fuzzer_catches_a_silent_coercion(monkeypatch):
    def truncating(self, agent, action, key, low, high, default=0):  # the old reading: int(0.9) == 0, unrecorded
        try:
            return min(max(int(action[key]), low), high)
        except Exception:
            return default

    monkeypatch.setattr(commons_v0.CommonsEnv, "_amount", truncating)
    with pytest.raises(fuzz.FuzzFailure, match="without an invalid_action|unrecorded"):
        fuzz.fuzz(fuzz.CONFIGS["default"], STEPS)


def test_the_fuzzer_catches_a_raising_step(monkeypatch):
    # a reader that takes every action for a dict and every value for a str raises on the first that is not
    monkeypatch.setattr(commons_v0.CommonsEnv, "_text", lambda self, agent, action, key: action[key].strip())
    with pytest.raises(fuzz.FuzzFailure, match="step raised"):
        fuzz.fuzz(fuzz.CONFIGS["default"], STEPS)


def test_the_fuzzer_catches_an_event_that_is_not_json(monkeypatch):
    original = commons_v0.CommonsEnv._flag_invalid

    def leaky(self, agent, key, value, fix):
        original(self, agent, key, value, fix)
        self._events[-1]["value"] = value  # the raw value: NaN, a huge int, a megabyte...

    monkeypatch.setattr(commons_v0.CommonsEnv, "_flag_invalid", leaky)
    with pytest.raises(fuzz.FuzzFailure, match="not JSON|characters"):
        fuzz.fuzz(fuzz.CONFIGS["default"], STEPS)


def test_values_of_every_kind_are_drawn():
    import numpy as np

    rng = np.random.default_rng(0)
    kinds = {type(fuzz.random_value(rng, ["John", "Kate"])).__name__ for _ in range(2000)}
    assert {"int", "float", "str", "bytes", "complex", "list", "tuple", "dict", "ndarray", "NoneType", "bool",
            "Fraction", "Decimal", "_Evil"} <= kinds
