"""The paper's metrics on episodes run through the runner, expected values worked by hand.

Doubling regeneration with capacity 100: the stock after a month is min(100, 2 * left);
the env's threshold f(h) is floor(floor(h / 2) / n) per agent present; the commons
collapses when fewer than 5 units are left after a harvest.
"""

import json

import pytest

from govsim import config, runner
from govsim.config import DEFAULT_NAMES
from govsim.llm.fake import FakeLLM
from govsim.llm.pool import LLMPool
from govsim.metrics import counters
from govsim.runlog import EVENTS_FILE, read_run


def run_society(tmp_path, agents, experiment="default", pool=None, **overrides):
    cfg = config.resolve(experiment, overrides={**({"agents": agents} if agents else {}), **overrides})
    return cfg, runner.run(cfg, tmp_path / "run", pool=pool).summary


def fixed(*amounts):
    return [{"name": n, "type": "fixed", "params": {"amount": a}} for n, a in zip(DEFAULT_NAMES, amounts)]


def test_five_greedy_agents_collapse_in_month_one_and_all_over_use(tmp_path):
    # Proportional shares of 5 x 100 wanted from 100: 20 each, all above f(100) = 10.
    _, summary = run_society(tmp_path, "greedy*5", allocation="proportional")
    m = summary["metrics"]
    assert not m["survived"] and m["collapsed"] and m["survival_time"] == 1  # the collapse month counts
    assert m["harvest_by_agent"] == dict.fromkeys(DEFAULT_NAMES[:5], 20)
    assert m["over_usage"] == 100.0  # 5 of 5 actions, the collapse month included
    assert m["gain"] == 20.0 and m["equality"] == 1.0
    assert m["efficiency"] == pytest.approx(1 - (12 * 50 - 100) / (12 * 50))  # 1/6


def test_a_month_one_collapse_counts_the_collapse_month_in_over_usage(tmp_path):
    # One greedy (wants 100) and four sustainable (want f(100) = 10): 140 wanted from 100,
    # proportional shares floor(100*100/140) = 71 and floor(10*100/140) = 7 (one unit left over
    # goes by a weighted draw). Only the greedy catch (71 or 72) is above 10: 1 of 5 actions.
    _, summary = run_society(tmp_path, "greedy,sustainable*4", allocation="proportional")
    m = summary["metrics"]
    assert m["survival_time"] == 1 and not m["survived"]
    assert m["over_usage"] == pytest.approx(100 * 1 / 5)  # 0 % if the collapse month were left out
    assert m["gain"] == pytest.approx(100 / 5)


def test_a_later_collapse(tmp_path):
    # Four agents take 8, one takes 25: 57 a month, never more than the stock.
    #   month 1: h=100, f=50//5=10: only 25 > 10 (1 over); left 43 -> 86
    #   month 2: h=86,  f=43//5=8:  8 > 8 is not over, 25 is (1 over); left 29 -> 58
    #   month 3: h=58,  f=29//5=5:  all five over; left 1 < 5: collapse in month 3
    _, summary = run_society(tmp_path, fixed(8, 8, 8, 8, 25))
    m = summary["metrics"]
    assert m["survival_time"] == m["survival_time_full"] == 3 and not m["survived"]
    assert m["over_usage"] == pytest.approx(100 * 7 / 15)  # 46.67; months 1-2 alone would give 2/10
    assert m["harvest_by_agent"] == {"John": 24, "Kate": 24, "Jack": 24, "Emma": 24, "Luke": 75}
    assert m["gain"] == pytest.approx(171 / 5)  # 3 * 57 = 171 in all
    assert m["efficiency"] == pytest.approx(171 / 600)
    # sum_i sum_j |R_i - R_j| = 2 * 4 * (75 - 24) = 408; 2 n sum R = 2 * 5 * 171 = 1710
    assert m["equality"] == pytest.approx(1 - 408 / 1710)


def test_a_survivor(tmp_path):
    # 10, 10, 10, 10, 8: 48 a month, f(100) = 10 so nobody over-uses; left 52 -> 100 every month.
    _, summary = run_society(tmp_path, fixed(10, 10, 10, 10, 8))
    m = summary["metrics"]
    assert m["survived"] and not m["collapsed"] and m["survival_time"] == 12
    assert m["over_usage"] == 0.0
    assert m["gain"] == pytest.approx(576 / 5)  # 4 * 120 + 96
    assert m["efficiency"] == pytest.approx(1 - (600 - 576) / 600)  # 0.96
    assert m["equality"] == pytest.approx(1 - (2 * 4 * 24) / (2 * 5 * 576))  # 29/30


def test_efficiency_is_against_the_groups_sustainable_total_whatever_n(tmp_path):
    # Four sustainable agents take 50//4 = 12 each: 48 a month, 576 in 12 months. f(0) = 50,
    # so efficiency is 576/600 (the old n * floor(50/n) = 48 would have made it 1).
    _, summary = run_society(tmp_path, "sustainable*4")
    m = summary["metrics"]
    assert m["survived"] and m["gain"] == 144 and m["efficiency"] == pytest.approx(0.96)


def join_month(cfg):
    (newcomer,) = [seat for seat in cfg.agents if seat.join_month > 1]
    return newcomer.join_month


def test_the_newcomer_survivor_scores_12_months_and_15_beside(tmp_path):
    # Every seat takes 10 (fixed). Months before the newcomer joins (J): 4 x 10 of f(100) = 12,
    # 60 left -> 100; from J on 5 x 10 of f(100) = 10 (12 if f still divides by 4), 50 -> 100.
    cfg, summary = run_society(tmp_path, None, "greedy_newcomer", agent="fixed")
    J, m = join_month(cfg), summary["metrics"]
    assert cfg.months == 15 and m["survived"] and m["over_usage"] == 0.0
    assert m["survival_time"] == 12 and m["survival_time_full"] == 15
    total = 4 * 15 * 10 + (15 - J + 1) * 10  # the newcomer harvests from month J to 15
    assert m["gain"] == pytest.approx(total / 5)
    assert m["efficiency"] == 1.0  # T = 12: 600 - total < 0
    assert m["efficiency_full"] == pytest.approx(1 - (15 * 50 - total) / (15 * 50))
    newcomer = (15 - J + 1) * 10
    assert m["equality"] == pytest.approx(1 - 2 * 4 * (150 - newcomer) / (2 * 5 * total))


def test_a_greedy_newcomer_empties_the_lake_the_month_it_joins(tmp_path):
    # Locals take 10 each; the newcomer (greedy) asks for all 100 in month J: 140 wanted from 100,
    # proportional 7 each and 71 (+1 unit by draw). Only the newcomer is above f(100) (10 or 12).
    seats = [{**seat.model_dump(), "type": "fixed"} for seat in config.resolve("greedy_newcomer").agents]
    seats[-1]["type"] = "greedy"  # the newcomer (a whole list: a dotted override would edit the cached preset)
    cfg, summary = run_society(tmp_path, seats, "greedy_newcomer", allocation="proportional")
    J, m = join_month(cfg), summary["metrics"]
    assert not m["survived"] and m["survival_time"] == m["survival_time_full"] == J
    actions = 4 * (J - 1) + 5  # four locals a month before J, five in month J
    assert m["over_usage"] == pytest.approx(100 / actions)
    total = 40 * (J - 1) + 100
    assert m["gain"] == pytest.approx(total / 5)
    assert m["efficiency"] == pytest.approx(total / 600) and m["efficiency_full"] == pytest.approx(total / 750)


def answer_ten(request):
    return "Answer: 10"  # parses for the harvest; the other decisions fail and are retried


def test_decisions_count_first_attempts_and_read_version_1_tags(tmp_path):
    seats = [{"name": n, "type": "generative", "params": {"embedder": "hash"}} for n in DEFAULT_NAMES[:2]]
    pool = LLMPool(config.LLMConfig(backend="fake"), factory=lambda *args: FakeLLM(answer_ten))
    cfg, summary = run_society(tmp_path, seats, months=1, pool=pool)
    c = summary["counters"]
    retries = cfg.llm.retries
    assert c["decisions"] > 0 and c["parse_failures"] > 0
    # a decision that parses takes one call; one that never parses takes 1 + retries
    assert c["llm_calls"] == c["decisions"] + retries * c["parse_failures"]
    # a version-1 log held the attempt only in the call's tags
    run = read_run(tmp_path / "run")
    old = [{k: v for k, v in e.items() if k != "attempt"} for e in run.events]
    assert all("attempt" in e["tags"] for e in old if e["type"] == "llm_call")
    assert counters(old)["decisions"] == c["decisions"]
    events = (tmp_path / "run" / EVENTS_FILE).read_text().splitlines()
    assert sum(json.loads(line).get("attempt") == 1 for line in events) == c["decisions"]
