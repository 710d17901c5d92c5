import numpy as np
import pytest
from pydantic import ValidationError

from govsim import config
from govsim.dynamics import Commons, Regeneration, allocate, sustainability_threshold


def test_threshold_matches_the_paper():
    doubling = Regeneration()
    assert sustainability_threshold(100, 5, 100, doubling) == 10
    assert sustainability_threshold(99, 5, 100, doubling) == 9  # floor(floor(99/2)/5)
    assert sustainability_threshold(100, 1, 100, doubling) == 50
    assert sustainability_threshold(4, 5, 100, doubling) == 0


@pytest.mark.parametrize("rule", ["logistic", "stochastic"])
def test_threshold_general_rule_keeps_the_stock(rule):
    regen = Regeneration(rule=rule)
    for stock in (10, 37, 80, 100):
        total = sustainability_threshold(stock, 1, 100, regen)
        assert regen.planning_stock(stock - total, 100) >= stock
        assert regen.planning_stock(stock - total - 1, 100) < stock or total == stock


def test_regeneration_rules():
    rng = np.random.default_rng(0)
    assert Regeneration().next_stock(30, 100) == 60
    assert Regeneration().next_stock(70, 100) == 100
    assert Regeneration(rule="logistic").next_stock(50, 100) == 75
    grown = [Regeneration(rule="stochastic").next_stock(20, 100, rng) for _ in range(200)]
    assert min(grown) >= 20 and max(grown) <= 60 and len(set(grown)) > 10


@pytest.mark.parametrize("rule", ["stochastic", "proportional"])
def test_allocation_hands_out_exactly_the_pool_and_is_seeded(rule):
    requests = [50, 30, 40, 0, 10]
    a = allocate(requests, 60, rule, np.random.default_rng(3))
    b = allocate(requests, 60, rule, np.random.default_rng(3))
    assert a == b and sum(a) == 60
    assert all(0 <= got <= want for got, want in zip(a, requests))
    assert allocate([5, 5], 60, rule, np.random.default_rng(0)) == [5, 5]


def test_proportional_is_close_to_proportional():
    got = allocate([60, 30, 10], 50, "proportional", np.random.default_rng(0))
    assert got[0] in (30, 31) and got[1] in (15, 16) and got[2] in (5, 6)


def test_commons_collapse_and_clipping():
    commons = Commons()
    caught = commons.harvest([200, -3], "stochastic", np.random.default_rng(0))
    assert caught == [100, 0] and commons.stock == 0 and commons.collapsed


def test_the_run_configs_regeneration_is_the_rule_the_commons_uses():
    cfg = config.resolve(overrides={"regeneration.rule": "logistic", "regeneration.rate": 0.5})
    assert isinstance(cfg.regeneration, Regeneration) and cfg.regeneration.next_stock(50, 100) == 62
    assert cfg.dump()["regeneration"] == {"rule": "logistic", "factor": 2.0, "rate": 0.5, "low": 1.0, "high": 3.0}
    with pytest.raises(config.ConfigError, match=r"^config: regeneration.factor: Input should be greater than 0 \(got 0\)$"):
        config.resolve(overrides={"regeneration.factor": 0})
    with pytest.raises(config.ConfigError, match=r"unknown key 'regeneration.fator'; allowed here: factor, high, low, rate"):
        config.resolve(overrides={"regeneration.fator": 3})
    with pytest.raises(ValidationError):
        Regeneration(rule="exponential")
