"""Re-ReST without a real model: decisions read from fake run logs, sampling and reflection
through FakeLLM, the training sets, stage checkpoints and resuming, the summary table."""

import asyncio
import csv
import json

import pytest

from govsim import config as run_config
from govsim import scenarios
from govsim.config import ConfigError
from govsim.llm.fake import FakeLLM
from govsim.rerest import config as rerest_config
from govsim.rerest import datasets, pipeline
from govsim.rerest.config import ReflectionSpec, SamplingSpec
from govsim.rerest.decisions import from_run
from govsim.rerest.reflect import reflect
from govsim.rerest.sample import draw_samples, scored_row
from govsim.rerest.stages import STAGES_FILE, Stages, read_jsonl
from govsim.rerest.summary import COLUMNS
from govsim.rerest.texts import Texts
from govsim.runlog import RunWriter

TEXTS = Texts(scenarios.load("fishery"))


def prompt(agent, month):
    return [{"role": "system", "content": f"You are {agent}."}, {"role": "user", "content": f"Month {month}: how many tons?"}]


def llm_call(agent, month, purpose="harvest", attempt=1, text="Answer: 10 tons.", adapter=None):
    return {
        "type": "llm_call", "agent": agent, "month": month, "adapter": adapter, "messages": prompt(agent, month),
        "text": text, "tags": {"agent": agent, "purpose": purpose, "month": month, "attempt": attempt},
    }


def fake_run(path, seed=0, adapter=None, survived=False):
    """A run log as the runner writes it: two agents, two months, a limit agreed in month 1."""
    cfg = run_config.resolve(overrides={"agents": "generative*2", "months": 2, "seed": seed})
    cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"adapter": adapter})})
    writer = RunWriter(path)
    writer.open(cfg.dump())
    for event in [
        {"type": "run_started"},
        {"type": "month_started", "month": 1, "stock": 100, "agents": ["John", "Kate"], "threshold": 25},
        llm_call("John", 1, text="I take many. Answer: 60 tons.", adapter=adapter),
        llm_call("John", 1, attempt=2, text="Answer: 60 tons.", adapter=adapter),  # a retry: not a new decision
        llm_call("Kate", 1, text="Answer: 20 tons.", adapter=adapter),
        llm_call("Kate", 1, purpose="converse", text="Response: hi", adapter=adapter),
        {"type": "summary", "month": 1, "agent": "John", "text": "at most 15", "agreed_limit": 15},
        {"type": "month_started", "month": 2, "stock": 40, "agents": ["John", "Kate"], "threshold": 10},
        llm_call("John", 2, text="Answer: 12", adapter=adapter),
        {"type": "run_ended", "month": 2, "collapsed": not survived},
    ]:
        writer.append(event)
    writer.finish({"metrics": {"survived": survived, "survival_time": 2, "gain": 30.0}, "counters": {}})
    return path


def test_decisions_are_read_from_the_run_log(tmp_path):
    decisions = from_run(fake_run(tmp_path / "seed0"))
    assert [(d.id, d.reply) for d in decisions] == [
        ("seed0/m1/John", "I take many. Answer: 60 tons."),
        ("seed0/m1/Kate", "Answer: 20 tons."),
        ("seed0/m2/John", "Answer: 12"),
    ]
    first, _, last = decisions
    assert (first.state.stock, first.state.n_agents, first.state.threshold, first.state.limit) == (100, 2, 25, None)
    assert (last.state.stock, last.state.threshold, last.state.limit) == (40, 10, 15)  # the limit agreed in month 1
    assert first.messages == prompt("John", 1)
    assert first.outcome == {"survived": False, "survival_time": 2, "gain": 30.0}
    assert type(first).from_json(json.loads(json.dumps(first.to_json()))) == first


def fake_replies(request):
    """Agent samples: k=0 passes, k=1 over-harvests; corrections pass for John only."""
    tags = request.tag_dict
    if tags["purpose"] == "rerest_reflect":
        return "Fewer this time. Answer: 5 tons." if "John" in tags["decision"] else "Still many. Answer: 99"
    return "Answer: 5 tons." if tags.get("k", 0) == 0 else "Answer: 50 tons."


def test_samples_reflections_and_training_sets(tmp_path):
    decisions = {d.id: d for d in from_run(fake_run(tmp_path / "seed0"))}
    llm = FakeLLM(fake_replies)
    samples = asyncio.run(draw_samples(llm, list(decisions.values()), SamplingSpec(k=2), "/a/dapter", TEXTS, progress=False))
    assert len(samples) == 6 and all(r.adapter == "/a/dapter" for r in llm.requests)
    assert [s["passed"] for s in samples] == [True, False] * 3
    assert samples[1]["kind"] == "collapse" and "If all 2 did as you did, 100 tons" in samples[1]["feedback"]
    assert samples[0]["outcome"]["survival_time"] == 2

    reflections = asyncio.run(reflect(llm, decisions, samples, ReflectionSpec(), None, TEXTS, progress=False))
    assert [(r["decision"], r["passed"]) for r in reflections] == [
        ("seed0/m1/John", True), ("seed0/m1/Kate", False), ("seed0/m2/John", True)
    ]
    assert reflections[0]["failed_text"] == "Answer: 50 tons." and "You chose 50 tons" in reflections[0]["failed_feedback"]
    reflect_prompt = llm.requests[-3].messages[1]["content"]
    assert "Month 1: how many tons?" in reflect_prompt and "Answer: 50 tons." in reflect_prompt

    d_m = datasets.agent_examples(decisions, samples, "sample")
    d_r = datasets.agent_examples(decisions, reflections, "correction")
    assert len(d_m) == 3 and len(d_r) == 2
    assert d_m[0]["prompt"] == prompt("John", 1)
    assert d_m[0]["completion"] == [{"role": "assistant", "content": "Answer: 5 tons."}]
    reflector = datasets.reflector_examples(decisions, samples, reflections, TEXTS)
    assert sorted(r["source"] for r in reflector) == ["correction"] * 2 + ["sample_pair"] * 3
    pair = next(r for r in reflector if r["source"] == "sample_pair")
    assert "Answer: 50 tons." in pair["prompt"][1]["content"] and pair["completion"][0]["content"] == "Answer: 5 tons."
    assert len(datasets.unique(d_m + d_m)) == 3


# ---------------------------------------------------------------- the whole pipeline, faked


class FakePool:
    def __init__(self):
        self.llm = FakeLLM(fake_replies)
        self.closed = 0

    def get(self, llm_config, model=None, backend=None):
        return self.llm

    async def aclose(self):  # engines are shut down for training, started again on demand
        self.closed += 1


class Boom(Exception):
    pass


@pytest.fixture
def faked(monkeypatch):
    """Episodes write fake run logs; training writes an adapter folder. Counts every call."""
    calls = {"play": 0, "train": [], "fail_on": None, "objectives": {}}

    async def play(pool, jobs, progress=True):
        calls["play"] += 1
        for cfg, path in jobs:
            if not (path / "summary.json").exists():
                fake_run(path, seed=cfg.seed, adapter=cfg.llm.adapter, survived=cfg.llm.adapter is not None)

    def train(model, data, adapter, spec, progress=True, objective="sft"):
        name = adapter.name
        calls["objectives"][name] = objective
        if calls["fail_on"] == name:
            calls["fail_on"] = None
            raise Boom(name)
        calls["train"].append(name)
        rows = read_jsonl(data)
        adapter.mkdir(parents=True)
        (adapter / "adapter_config.json").write_text("{}")
        return {"examples": len(rows), "too_long": 0, "tokens": 1, "adapter": str(adapter), "steps": 1,
                "epochs": 1, "first_loss": 2.0, "last_loss": 1.0, "train_loss": 1.5, "train_s": 0.1}

    monkeypatch.setattr(pipeline.evaluate, "play", play)
    monkeypatch.setattr(pipeline, "train_lora", train)
    monkeypatch.setattr(pipeline, "resolve_model", lambda name: name)
    return calls


def small_config(tmp_path, **extra):
    return rerest_config.load(overrides={
        "out": str(tmp_path / "out"), "train_seeds": [0], "eval_seeds": [100, 101],
        "run": {"months": 2, "n_agents": 2}, "sampling.k": 2, "adapter_check": 2, **extra,
    })


def test_a_killed_run_resumes_at_the_stage_it_was_in(tmp_path, faked):
    config = small_config(tmp_path)
    faked["fail_on"] = "rerest"
    with pytest.raises(Boom):
        asyncio.run(pipeline.run_experiment(config, progress=False, pool=FakePool()))
    done = json.loads((tmp_path / "out" / STAGES_FILE).read_text())
    assert set(done) == {
        "i1.episodes.base", "i1.sample.base", "i1.reflect", "i1.datasets", "i1.train.reflector", "i1.train.self_training"
    }
    assert faked["train"] == ["reflector", "self_training"] and faked["play"] == 1

    pool = FakePool()
    path = asyncio.run(pipeline.run_experiment(config, progress=False, pool=pool))
    assert faked["train"] == ["reflector", "self_training", "rerest"]  # nothing was trained twice
    assert faked["play"] == 2  # the sampling episodes were not played again; evaluation was
    assert not any(r.tag_dict["purpose"] in ("rerest_sample", "rerest_reflect") for r in pool.llm.requests)
    assert pool.closed == 1  # before the training that was left

    out = tmp_path / "out"
    data = out / "iter1" / "data"
    assert {p.name for p in data.iterdir()} == {
        "d_m.jsonl", "d_r.jsonl", "agent_rerest.jsonl", "agent_self_training.jsonl", "reflector.jsonl"
    }
    assert len(read_jsonl(data / "agent_rerest.jsonl")) == 5 and len(read_jsonl(data / "agent_self_training.jsonl")) == 3
    rows = list(csv.DictReader(open(out / "rerest_summary.csv")))
    assert list(rows[0]) == COLUMNS
    assert [(r["iteration"], r["method"], r["runs"]) for r in rows] == [
        ("0", "base", "2"), ("1", "self_training", "2"), ("1", "rerest", "2")
    ]
    assert float(rows[2]["survival_rate"]) == 100.0 and float(rows[0]["survival_rate"]) == 0.0
    assert float(rows[2]["reflection_pass_rate"]) == pytest.approx(2 / 3) and rows[0]["reflection_pass_rate"] == ""
    checks = json.loads((out / STAGES_FILE).read_text())["i1.check"]["result"]
    rerest_adapter = str(out / "iter1" / "adapters" / "rerest")
    assert checks["rerest"]["logged_adapters"] == {rerest_adapter: 10} and checks["base"]["logged_adapters"] == {"none": 10}
    assert checks["rerest"]["greedy"] == {"compared": 2, "differ": 0}  # FakeLLM ignores adapters
    markdown = path.read_text()
    assert "| iteration | method | runs | survival_rate |" in markdown and "## Iteration 1" in markdown

    again = asyncio.run(pipeline.run_experiment(config, progress=False, pool=FakePool()))
    assert again.read_text() == markdown and faked["play"] == 2


def test_a_second_iteration_samples_each_method_from_its_own_adapter(tmp_path, faked):
    config = small_config(tmp_path, iterations=2)
    asyncio.run(pipeline.run_experiment(config, progress=False, pool=FakePool()))
    stages = json.loads((tmp_path / "out" / STAGES_FILE).read_text())
    assert {"i2.sample.rerest1", "i2.sample.self_training1", "i2.reflect"} <= set(stages)
    samples = read_jsonl(tmp_path / "out" / "iter2" / "samples" / "rerest1" / "samples.jsonl")
    assert {s["adapter"] for s in samples} == {str(tmp_path / "out" / "iter1" / "adapters" / "rerest")}
    assert stages["i2.reflect"]["result"]["reflector"] == "reflector1"
    rows = list(csv.DictReader(open(tmp_path / "out" / "rerest_summary.csv")))
    assert [(r["iteration"], r["method"]) for r in rows][-2:] == [("2", "self_training"), ("2", "rerest")]


def test_the_dpo_variant_trains_on_preference_pairs_and_is_evaluated(tmp_path, faked):
    asyncio.run(pipeline.run_experiment(small_config(tmp_path, dpo=True), progress=False, pool=FakePool()))
    out = tmp_path / "out"
    pairs = read_jsonl(out / "iter1" / "data" / "dpo.jsonl")
    # 2 passing corrections over their failed samples + 3 failed samples under a passing one
    assert sorted(p["source"] for p in pairs) == ["correction"] * 2 + ["sample_pair"] * 3
    first = next(p for p in pairs if p["source"] == "correction")
    assert first["chosen"][0]["content"] == "Fewer this time. Answer: 5 tons."
    assert first["rejected"][0]["content"] == "Answer: 50 tons." and first["prompt"] == prompt("John", 1)
    assert faked["objectives"] == {"reflector": "sft", "self_training": "sft", "rerest": "sft", "dpo": "dpo"}
    rows = list(csv.DictReader(open(out / "rerest_summary.csv")))
    assert [(r["method"], r["runs"]) for r in rows] == [("base", "2"), ("self_training", "2"), ("rerest", "2"), ("dpo", "2")]
    assert (out / "iter1" / "eval" / "dpo" / "seed100" / "summary.json").exists()


def test_resuming_with_another_config_is_refused(tmp_path, faked):
    asyncio.run(pipeline.run_experiment(small_config(tmp_path), progress=False, pool=FakePool()))
    with pytest.raises(ConfigError, match="another config; use --restart"):
        Stages(tmp_path / "out", small_config(tmp_path, **{"sampling.k": 3}).model_dump(mode="json"))
    saved = tmp_path / "out" / "rerest_config.json"
    older = json.loads(saved.read_text())
    del older["threads"]  # as written before the key existed: it means the default
    saved.write_text(json.dumps(older))
    again = asyncio.run(pipeline.run_experiment(small_config(tmp_path), progress=False, pool=FakePool()))
    assert again.exists()
    restarted = Stages(tmp_path / "out", small_config(tmp_path, **{"sampling.k": 3}).model_dump(mode="json"), restart=True)
    assert restarted.record == {} and not (tmp_path / "out" / "iter1").exists()


@pytest.mark.parametrize("overrides, message", [
    ({"sampling.kk": 2}, "unknown key 'sampling.kk'; allowed here: k, max_tokens, temperature, top_p"),
    ({"eval_seeds": [0]}, "eval_seeds must be held out from train_seeds; both have [0]"),
    ({"run": {"monthz": 2}}, "run: unknown key 'monthz'"),
    ({"run": {"agents": [{"name": "A", "type": "wizard"}]}}, "run: unknown agent type 'wizard'"),
    ({"training.r": 0}, "training.r: Input should be greater than or equal to 1"),
])
def test_bad_config_is_one_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        rerest_config.load(overrides=overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_scored_row_keeps_outcome_beside_the_sample(tmp_path):
    decision = from_run(fake_run(tmp_path / "seed0", survived=True))[0]
    row = scored_row(decision, "Answer: 3", TEXTS, k=0)
    assert row["passed"] and row["outcome"]["survived"] is True and row["decision"] == "seed0/m1/John"


def test_a_correction_without_an_amount_gets_a_constrained_answer_turn(tmp_path):
    decisions = {d.id: d for d in from_run(fake_run(tmp_path / "seed0"))}
    samples = [scored_row(decisions["seed0/m1/John"], "lots", TEXTS, k=0)]

    def script(request):
        return "Answer: 7 tons." if request.constraint is not None else "I should fish less than before."

    llm = FakeLLM(script)
    for constrain, expected in ((True, "I should fish less than before.\nAnswer: 7 tons."), (False, "I should fish less than before.")):
        llm.requests.clear()
        rows = asyncio.run(reflect(llm, decisions, samples, ReflectionSpec(constrain_answer=constrain), None, TEXTS, progress=False))
        assert rows[0]["text"] == expected and rows[0]["passed"] is constrain
    follow_up = None
    llm.requests.clear()
    asyncio.run(reflect(llm, decisions, samples, ReflectionSpec(), None, TEXTS, progress=False))
    follow_up = llm.requests[-1]
    assert follow_up.constraint.regex.startswith("Answer: ") and follow_up.messages[-2]["role"] == "assistant"
    assert "'Answer: N tons.'" in follow_up.messages[-1]["content"]
