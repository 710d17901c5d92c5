"""Metrics on hand-computed trajectories."""

import pytest

from govsim import config, runner
from govsim.metrics import episode_metrics


def run_society(tmp_path, agents, **overrides):
    cfg = config.resolve(overrides={"agents": agents, **overrides})
    return runner.run(cfg, tmp_path / "run").summary


def test_five_sustainable_agents(tmp_path):
    m = run_society(tmp_path, "sustainable*5")["metrics"]
    assert m["survived"] and m["survival_time"] == 12
    assert m["gain"] == 120 and m["efficiency"] == 1 and m["equality"] == 1 and m["over_usage"] == 0


def test_five_greedy_agents_collapse_in_month_one(tmp_path):
    m = run_society(tmp_path, "greedy*5")["metrics"]
    assert not m["survived"] and m["survival_time"] == 1
    assert sum(m["harvest_by_agent"].values()) == 100
    assert m["efficiency"] == pytest.approx(1 - (600 - 100) / 600)


def test_conditional_cooperators_follow_the_agreement(tmp_path):
    m = run_society(tmp_path, "conditional*5")["metrics"]
    assert m["survived"] and m["gain"] == 120


def test_fixed_over_users_are_counted():
    cfg = config.resolve(overrides={"agents": "fixed*2", "months": 2})
    events = [
        {"type": "month_started", "month": 1},
        {"type": "harvest", "month": 1, "agent": "John", "caught": 30, "threshold": 25},
        {"type": "harvest", "month": 1, "agent": "Kate", "caught": 10, "threshold": 25},
        {"type": "month_ended", "month": 1, "collapsed": False},
        {"type": "month_started", "month": 2},
        {"type": "harvest", "month": 2, "agent": "John", "caught": 30, "threshold": 30},
        {"type": "harvest", "month": 2, "agent": "Kate", "caught": 50, "threshold": 30},
        {"type": "month_ended", "month": 2, "collapsed": True},
        {"type": "run_ended", "month": 2, "collapsed": True},
    ]
    m = episode_metrics(events, cfg)
    assert m["survival_time"] == 2 and not m["survived"]
    assert m["over_usage"] == 50.0  # month 2 collapsed, so only month 1's two actions count
    assert m["gain"] == 60  # (60 + 60) / 2
    assert m["equality"] == 1.0
    F = 2 * 25  # n * f(C): 100 // 2 // 2 = 25 each
    assert m["efficiency"] == 1.0  # 120 > T*F = 100: efficiency caps at 1
    assert F == 50
