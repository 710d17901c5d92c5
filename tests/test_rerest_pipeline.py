"""Re-ReST without a real model: decisions read from run logs of real episodes (the runner,
generative agents on the fake backend), sampling, reflection and the fixed-input evaluation
through FakeLLM, the training sets, stage checkpoints and resuming, the summary tables."""

import asyncio
import collections
import csv
import dataclasses
import json
import os
import re
import shutil
import signal
import warnings
from pathlib import Path

import pytest
import rerest_runs
import torch
from rerest_runs import SEATS, Boom, Pool, continuation, script
from scipy import stats

from govsim import config as run_config
from govsim import runner, scenarios
from govsim.config import ConfigError, LLMConfig
from govsim.llm import LLMPool
from govsim.llm.base import Completion
from govsim.llm.fake import FakeLLM
from govsim.llm.merged import REPORT, merged_path
from govsim.phases import Purpose
from govsim.rerest import config as rerest_config
from govsim.rerest import datasets, fixed, pipeline, summary
from govsim.rerest.command import run_stoppable
from govsim.rerest.config import ReflectionSpec, SamplingSpec
from govsim.rerest.decisions import from_run
from govsim.rerest.reflect import passing, reflect
from govsim.rerest.reply import Reader
from govsim.rerest.results import COLUMNS, EPISODE_ROW_COLUMNS, LOSS_COLUMNS
from govsim.rerest.sample import draw_samples, scored_row
from govsim.rerest.stages import CONFIG_FILE, STAGES_FILE, Stages, read_jsonl
from govsim.rerest.texts import Texts, load_templates
from govsim.rerest.train import last_checkpoint
from govsim.runlog import read_run

TEXTS = Texts(scenarios.load("fishery"))


def episode(path, seed=0, experiment="no_communication", reply=script, months=2):
    cfg = run_config.resolve(experiment, overrides={
        "agents": [dict(s) for s in SEATS], "agent": "generative", "months": months, "seed": seed,
        "llm": {"backend": "fake"},
    })
    fake = FakeLLM(reply)
    runner.run(cfg, path, pool=LLMPool(LLMConfig(backend="fake"), factory=lambda *a: fake))
    return path


def test_decisions_are_read_from_the_run_log(tmp_path):
    def reply(request):
        return "12" if request.tag_dict.get("purpose") == Purpose.HARVEST_AMOUNT else script(request)

    path = episode(tmp_path / "seed0", experiment="default", reply=reply)
    run = read_run(path)
    decisions = from_run(path)
    assert [d.id for d in decisions] == ["seed0/m1/John", "seed0/m1/Kate", "seed0/m2/John", "seed0/m2/Kate"]
    first, _, third, _ = decisions
    asked = next(e for e in run.of_type("llm_call") if e["purpose"] == "harvest" and e["agent"] == "John")
    assert first.messages == asked["messages"] and [m["role"] for m in first.messages] == ["user"]
    assert first.reply == "I think it over.\nAnswer: 12" and first.amount == 12
    started = run.of_type("month_started")
    assert (first.state.stock, first.state.n_agents, first.state.threshold, first.state.limit) == (
        started[0]["stock"], 2, started[0]["threshold"], None
    )
    assert run.of_type("summary")[0]["agreed_limit"] == 9
    assert (third.state.stock, third.state.threshold, third.state.limit) == (started[1]["stock"], started[1]["threshold"], 9)
    metrics = run.summary["metrics"]
    assert first.outcome == {k: metrics[k] for k in ("survived", "survival_time", "gain")}
    assert type(first).from_json(json.loads(json.dumps(first.to_json()))) == first


def test_samples_reflections_and_training_sets(tmp_path):
    decisions = {d.id: d for d in from_run(episode(tmp_path / "seed0"))}
    assert len(decisions) == 4
    llm = FakeLLM(script)
    reader = Reader(budget=512)
    samples = asyncio.run(
        draw_samples(llm, list(decisions.values()), SamplingSpec(k=2), "/a/dapter", TEXTS, reader, 512, progress=False)
    )
    assert len(samples) == 8 and all(r.adapter == "/a/dapter" for r in llm.requests)
    assert [s["passed"] for s in samples] == [True, False] * 4
    assert samples[0]["text"] == "I think it over.\nAnswer: 5"
    answer_request = next(r for r in llm.requests if continuation(r))
    assert answer_request.messages[-1]["content"] == "I think it over.\nAnswer: "
    assert answer_request.constraint.regex == "(0|[1-9][0-9]{0,2})" and answer_request.sampling.max_tokens == 4
    reasoning = next(r for r in llm.requests if not continuation(r))
    assert "Answer:" in reasoning.sampling.stop and reasoning.sampling.temperature == 0.7
    assert samples[1]["kind"] == "collapse" and "If all 2 did as you did, 100 tons" in samples[1]["feedback"]

    llm.requests.clear()
    reflections = asyncio.run(reflect(llm, decisions, samples, ReflectionSpec(), None, TEXTS, reader, progress=False))
    assert [(r["decision"].split("/", 1)[1], r["passed"]) for r in reflections] == [
        ("m1/John", True), ("m1/Kate", False), ("m2/John", True), ("m2/Kate", False)
    ]
    assert reflections[0]["text"] == "Fewer this time.\nAnswer: 5"
    assert reflections[0]["failed_text"] == "I think it over.\nAnswer: 50"
    assert "You chose 50 tons" in reflections[0]["failed_feedback"]
    prompt = llm.requests[0].messages[1]["content"]
    assert decisions["seed0/m1/John"].messages[0]["content"] in prompt and "Answer: 50" in prompt
    assert llm.requests[0].sampling.max_tokens == ReflectionSpec().max_tokens
    bounded = next(r for r in llm.requests if continuation(r)).constraint  # John, month 1: f(h) = 25
    assert [n for n in range(0, 101) if bounded.matches(str(n))] == list(range(1, 26))
    assert passing(0).matches("0") and not passing(0).matches("1")
    llm.requests.clear()
    asyncio.run(reflect(llm, decisions, samples[1:2], ReflectionSpec(answer="digits"), None, TEXTS, reader, progress=False))
    assert next(r for r in llm.requests if continuation(r)).constraint.regex == "(0|[1-9][0-9]{0,2})"

    d_m = datasets.agent_examples(decisions, samples, "sample")
    d_r = datasets.agent_examples(decisions, reflections, "correction")
    assert len(d_m) == 4 and len(d_r) == 2
    assert d_m[0]["prompt"] == decisions["seed0/m1/John"].messages
    assert d_m[0]["completion"] == [{"role": "assistant", "content": "I think it over.\nAnswer: 5"}]
    reflector = datasets.reflector_examples(decisions, samples, reflections, TEXTS)
    assert sorted(r["source"] for r in reflector) == ["correction"] * 2 + ["sample_pair"] * 4
    pair = next(r for r in reflector if r["source"] == "sample_pair")
    assert "Answer: 50" in pair["prompt"][1]["content"] and pair["completion"][0]["content"].endswith("Answer: 5")
    assert len(datasets.unique(d_m + d_m)) == 4


class Cutting(FakeLLM):
    """A fake backend that honours max_tokens (whitespace tokens) and says when it cut."""

    async def complete(self, request):
        done = await super().complete(request)
        words = done.text.split(" ")
        if len(words) > request.sampling.max_tokens:
            return Completion(" ".join(words[: request.sampling.max_tokens]), done.prompt_tokens,
                              request.sampling.max_tokens, 0.0, "fake", "fake", finish_reason="length")
        return done


def test_a_correction_passes_only_as_a_first_reply_within_the_agents_budget(tmp_path):
    decisions = {d.id: d for d in from_run(episode(tmp_path / "seed0"))}
    john = decisions["seed0/m1/John"]
    failed = [scored_row(john, "I take lots.\nAnswer: 60", TEXTS, Reader(), k=0)]
    long = "I take less this month. The lake must last for all of us. And then I keep talking on"

    def replies(request):
        return "4" if continuation(request) else long

    llm = Cutting(replies)
    spec = ReflectionSpec(max_tokens=14)
    tight, roomy = Reader(budget=8), Reader(budget=40)
    row = asyncio.run(reflect(llm, decisions, failed, spec, None, TEXTS, tight, progress=False))[0]
    # cut at 14 tokens, kept to its two full sentences, then the constrained answer
    assert row["text"] == "I take less this month. The lake must last for all of us.\nAnswer: 4" and row["trimmed"]
    assert not row["passed"] and row["kind"] == "over_budget"  # 14 tokens before the marker: over a budget of 8
    assert "within 8 tokens" in row["feedback"]
    assert asyncio.run(reflect(llm, decisions, failed, spec, None, TEXTS, roomy, progress=False))[0]["passed"]

    # without the constraint: one free reply, read the agent's way and put in its form
    free = FakeLLM(lambda r: "I take less. Answer: 5 tons. Then I rest. Answer: 30")
    row = asyncio.run(reflect(free, decisions, failed, ReflectionSpec(answer="free"), None, TEXTS, roomy, progress=False))[0]
    assert row["text"] == "I take less.\nAnswer: 5" and row["passed"]  # the first marker counts, as the agent's stop
    assert free.requests[0].constraint is None and not free.requests[0].sampling.stop
    unread = FakeLLM(lambda r: "I would take five tons.")
    row = asyncio.run(reflect(unread, decisions, failed, ReflectionSpec(answer="free"), None, TEXTS, roomy, progress=False))[0]
    assert row["kind"] == "unparsed" and row["text"] == "I would take five tons."


def test_the_reflection_prompt_gives_no_fixed_amount_only_the_decisions_own():
    reflection = load_templates(None)["reflection"]
    assert not re.search(r"\d", reflection["system"] + reflection["user"])
    messages = TEXTS.reflection_messages([{"role": "user", "content": "How many?"}], "Answer: 40", "You chose 40 tons.", 7)
    assert "Answer:" in messages[1]["content"] and "first person" in messages[1]["content"]
    assert "more than 7 tons this month would shrink the lake" in " ".join(messages[1]["content"].split())


def test_the_fixed_input_evaluation(tmp_path):
    decisions = from_run(episode(tmp_path / "seed100", seed=100))
    reader, spec = Reader(budget=512), SamplingSpec(k=3)
    base_llm = FakeLLM(script)
    base = asyncio.run(fixed.answer(base_llm, decisions, spec, None, TEXTS, reader, 512, progress=False))
    assert len(base) == 4 * 4 and sum(r["k"] == "greedy" for r in base) == 4
    greedy = [r for r in base_llm.requests if r.tag_dict["k"] == "greedy" and not continuation(r)]
    assert len(greedy) == 4 and {r.sampling.temperature for r in greedy} == {0.0}
    summary = fixed.summarize(base)
    low, high = stats.binomtest(4, 12).proportion_ci(method="wilson")  # k=0 passes: 4 of 12 sampled replies
    assert summary["sampled"] == {"n": 12, "passed": 4, "rate": 4 / 12, "low": pytest.approx(low), "high": pytest.approx(high)}
    assert summary["greedy"]["passed"] == 4 and summary["prompts"] == 4
    assert summary["amounts"] == {"counts": {"5": 4, "50": 8}, "quartiles": [5.0, 50.0, 50.0]}
    assert summary["kinds"] == {"collapse": 8, "passed": 4}

    sixty = FakeLLM(lambda r: "60" if continuation(r) else "Hm.")
    worse = asyncio.run(fixed.answer(sixty, decisions, spec, "/x", TEXTS, reader, 512, progress=False))
    paired = fixed.summarize(worse, base)["vs_base"]
    assert (paired["compared"], paired["differ"], paired["gained"], paired["lost"]) == (4, 4, 0, 4)
    assert paired["p"] == pytest.approx(stats.binomtest(0, 4).pvalue)

    # a second seed's episode that reads word for word as the first: its prompts are copies, counted once
    again = from_run(episode(tmp_path / "seed101", seed=101))
    assert [d.messages for d in again] == [d.messages for d in decisions] and fixed.distinct([*decisions, *again]) == decisions
    both = [*decisions, *again]
    keys = fixed.prompt_keys(both)
    base2 = asyncio.run(fixed.answer(FakeLLM(script), both, spec, None, TEXTS, reader, 512, progress=False))
    worse2 = asyncio.run(fixed.answer(sixty, both, spec, "/x", TEXTS, reader, 512, progress=False))
    counted = fixed.summarize(worse2, base2, keys)
    assert counted["prompts"] == 4 and counted["greedy"]["n"] == 4 and counted["sampled"]["n"] == 12
    assert counted["vs_base"]["compared"] == 4 and counted["vs_base"]["p"] == pytest.approx(paired["p"])
    assert fixed.summarize(worse2, base2)["vs_base"]["compared"] == 8  # without keys each copy would count


# ---------------------------------------------------------------- the whole pipeline, on the fake backend


@pytest.fixture
def training():
    """Training as ``rerest_runs.FakeTraining``."""
    with rerest_runs.fake_training() as training:
        yield training


@pytest.fixture
def faked(training):
    """The record of every training call."""
    return training.calls


def small_config(tmp_path, **extra):
    return rerest_runs.small_config(tmp_path / "out", **extra)


def test_a_killed_run_resumes_at_the_stage_it_was_in(tmp_path, faked):
    config = small_config(tmp_path, **{"reflection.train_last": True})  # the only iteration trains the reflector too
    faked["fail_on"] = "iter1/rerest"
    with pytest.raises(Boom):
        asyncio.run(pipeline.run_experiment(config, progress=False, pool=Pool()))
    done = json.loads((tmp_path / "out" / STAGES_FILE).read_text())
    assert set(done) == {
        "i1.episodes.base", "base.episodes", "i1.sample.base", "base.fixed", "base.subskills", "i1.reflect", "base.heldout",
        "i1.datasets",
        "i1.train.reflector", "i1.train.self_training",
    }
    assert faked["train"] == ["iter1/reflector", "iter1/self_training"]
    # --report summarizes what is done so far, running nothing
    saved = (tmp_path / "out" / CONFIG_FILE).read_text()
    assert "iteration 1" in pipeline.report(config.model_copy(update={"threads": 7})).read_text().lower()
    assert (tmp_path / "out" / CONFIG_FILE).read_text() == saved  # a report only reads the run's config
    so_far = list(csv.DictReader(open(tmp_path / "out" / "rerest_summary.csv")))
    assert [r["method"] for r in so_far][0] == "base" and so_far[0]["sample_n"] == "8"
    with pytest.raises(ConfigError, match="no finished Re-ReST stage to report"):
        pipeline.report(small_config(tmp_path, out=str(tmp_path / "empty")))
    assert not (tmp_path / "empty").exists()  # nothing was made

    pool = Pool()
    path = asyncio.run(pipeline.run_experiment(config, progress=False, pool=pool))
    assert faked["train"] == ["iter1/reflector", "iter1/self_training", "iter1/rerest"]  # nothing was trained twice
    purposes = {r.tag_dict["purpose"] for r in pool.fake.requests}
    assert not purposes & {"rerest_sample", "rerest_reflect"}  # sampling and reflection were not redone
    assert pool.closed == 1  # before the training that was left
    out = tmp_path / "out"
    assert {p.name for p in (out / "iter1" / "data").iterdir()} == {
        "d_m.jsonl", "d_r.jsonl", "agent_rerest.jsonl", "agent_self_training.jsonl", "reflector.jsonl"
    }
    assert len(read_jsonl(out / "iter1" / "data" / "agent_rerest.jsonl")) == 6  # 4 passing samples + 2 corrections

    # every method answered the same prompts: the base model's harvests on the held-out seeds, each
    # distinct prompt once (both seeds play alike, so seed101's 4 repeat seed100's word for word)
    prompts = {r["decision"] for r in read_jsonl(out / "fixed" / "base.jsonl")}
    assert prompts == {d["id"] for d in read_jsonl(out / "fixed" / "decisions.jsonl")}
    assert sorted(prompts) == ["seed100/m1/John", "seed100/m1/Kate", "seed100/m2/John", "seed100/m2/Kate"]
    assert json.loads((out / STAGES_FILE).read_text())["base.fixed"]["result"]["copies_left_out"] == 4
    for method in ("self_training", "rerest"):
        assert {r["decision"] for r in read_jsonl(out / "iter1" / "fixed" / f"{method}.jsonl")} == prompts
    # held-out rows, built as the training rows from the held-out decisions, reached every training
    heldout = json.loads((out / STAGES_FILE).read_text())["base.heldout"]["result"]
    assert heldout["reflections"] == 4 and heldout["pass_rate"] == 0.5  # the 4 failed sampled replies, John's corrected
    # 4 distinct prompts, each with one passing reply, and John's 2 corrections
    assert faked["heldout"]["iter1/rerest"] == heldout["agent"] == 4 + 2
    assert faked["heldout"]["iter1/reflector"] == heldout["reflector"] > 0

    rows = list(csv.DictReader(open(out / "rerest_summary.csv")))
    assert list(rows[0]) == COLUMNS
    assert [(r["iteration"], r["method"], r["runs"]) for r in rows] == [
        ("0", "base", "2"), ("1", "self_training", "2"), ("1", "rerest", "2")
    ]
    base, self_training, rerest = rows
    assert float(rerest["survival_rate"]) == 100.0 and float(base["survival_rate"]) == 0.0
    assert float(rerest["reflection_pass_rate"]) == pytest.approx(0.5) and base["reflection_pass_rate"] == ""
    assert float(rerest["sample_pass_rate"]) == 1.0 and float(base["sample_pass_rate"]) == pytest.approx(0.5)
    assert base["sample_n"] == "8" and base["greedy_n"] == "4" and float(base["greedy_pass_rate"]) == 1.0
    assert float(base["sample_pass_rate_low"]) < 0.5 < float(base["sample_pass_rate_high"])
    assert (rerest["train_loss"], rerest["heldout_loss"]) == ("1.2", "1.7") and base["train_loss"] == ""
    losses = list(csv.DictReader(open(out / "rerest_losses.csv")))
    assert list(losses[0]) == LOSS_COLUMNS and len(losses) == 3 * 3  # 3 adapters, epochs 0-2
    # the subskill items, worded as no training prompt is: "how much will you take?" at stocks 10-100
    asked = read_jsonl(out / "iter1" / "subskills" / "rerest.jsonl")
    assert len(asked) == 2 * 150 and {r["test"] for r in asked} == {"sim_choose", "sim_choose_universalization"}
    assert all(r["passed"] == (r["parsed"] == 5 and r["stock"] >= 50) for r in asked)  # 5 passes where f(h) >= 5
    stages = json.loads((out / STAGES_FILE).read_text())
    accuracy = {r["test"]: r for r in stages["i1.subskills.rerest"]["result"]["accuracy"]}
    assert accuracy["sim_choose"]["passed"] == sum(r["passed"] for r in asked if r["test"] == "sim_choose") > 0
    assert all(r["passed"] == 0 for r in stages["base.subskills"]["result"]["accuracy"])  # 50 never passes
    assert len(read_jsonl(out / "subskills" / "base.jsonl")) == 300
    episodes = list(csv.DictReader(open(out / "rerest_episodes.csv")))  # the rows behind the episode intervals
    assert list(episodes[0]) == EPISODE_ROW_COLUMNS
    assert [(r["iteration"], r["method"], r["seed"], r["status"]) for r in episodes] == [
        (str(i), m, str(seed), "ok") for i, m in ((0, "base"), (1, "self_training"), (1, "rerest")) for seed in (100, 101)
    ]
    assert [r["survived"] for r in episodes if r["method"] == "rerest"] == ["True", "True"]
    assert float(rerest["over_usage"]) == 0.0 and float(base["equality"]) > 0  # the paper's last two metrics too

    stages = json.loads((out / STAGES_FILE).read_text())
    rerest_adapter = str(out / "iter1" / "adapters" / "rerest")
    checks = stages["i1.check"]["result"]
    assert checks["rerest"]["logged_adapters"] == {rerest_adapter: 16} and checks["base"]["logged_adapters"] == {"none": 16}
    vs_base = stages["i1.fixed.rerest"]["result"]["vs_base"]
    assert (vs_base["compared"], vs_base["gained"], vs_base["lost"]) == (4, 0, 0)
    markdown = path.read_text()
    for part in ("## Fixed inputs: the same 4 prompts of the held-out seeds", "| 0 | base | 50.0% (4/8)",
                 "Each of the 4 prompts counts once (4 copies from other seeds' episodes left out)",
                 "**4 of them are also training prompts**", "## Episodes on the held-out seeds",
                 "## Iteration 1", "dropped: collapse 2", "training loss per epoch 1.8 -> 1.2", "## Stage times (s)"):
        assert part in markdown, part

    again = asyncio.run(pipeline.run_experiment(config, progress=False, pool=Pool()))
    assert again.read_text() == markdown


def test_a_second_iteration_goes_on_from_the_first_ones_adapters(tmp_path, faked):
    config = small_config(tmp_path, iterations=2)
    asyncio.run(pipeline.run_experiment(config, progress=False, pool=Pool()))
    out = tmp_path / "out"
    stages = json.loads((out / STAGES_FILE).read_text())
    assert {"i2.sample.rerest1", "i2.sample.self_training1", "i2.reflect", "i2.fixed.rerest", "i2.eval.rerest"} <= set(stages)
    samples = read_jsonl(out / "iter2" / "samples" / "rerest1" / "samples.jsonl")
    assert {s["adapter"] for s in samples} == {str(out / "iter1" / "adapters" / "rerest")}
    assert stages["i2.reflect"]["result"]["reflector"] == "reflector1"
    for name in ("self_training", "rerest"):
        assert faked["init"][f"iter1/{name}"] is None
        assert faked["init"][f"iter2/{name}"] == str(out / "iter1" / "adapters" / name)
    # the reflector trained in iteration 1 reflected in iteration 2; none is trained after the last
    assert faked["init"]["iter1/reflector"] is None and "iter2/reflector" not in faked["init"]
    assert "i2.train.reflector" not in stages
    rows = list(csv.DictReader(open(out / "rerest_summary.csv")))
    assert [(r["iteration"], r["method"]) for r in rows] == [
        ("0", "base"), ("1", "self_training"), ("1", "rerest"), ("2", "self_training"), ("2", "rerest")
    ]
    assert "- iteration 2:" in (out / "rerest_summary.md").read_text()
    assert "- adapter reflector: not trained in the last iteration" in (out / "rerest_summary.md").read_text()


def test_every_training_gets_the_configured_threads_back_from_inference(tmp_path, faked):
    class Engine(Pool):  # as a vLLM engine does on a CPU: this process's torch down to 1 thread
        def get(self, *args, **kwargs):
            torch.set_num_threads(1)
            return super().get(*args, **kwargs)

    before = torch.get_num_threads()
    try:
        asyncio.run(pipeline.run_experiment(small_config(tmp_path, threads=2), progress=False, pool=Engine()))
    finally:
        torch.set_num_threads(before)
    assert faked["threads"] == [2, 2]  # self-training and Re-ReST (the only iteration trains no reflector)


def test_ctrl_c_asks_a_training_under_way_to_stop(tmp_path, training):
    training.hold = 30  # a training thread cannot be cancelled: it must be asked

    async def interrupted():
        run = asyncio.create_task(pipeline.run_experiment(small_config(tmp_path), progress=False, pool=Pool()))
        while not training.started.is_set():
            if run.done():
                run.result()  # it failed before training: say how
            await asyncio.sleep(0.01)
        run.cancel()  # what asyncio.run does on Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(interrupted())
    assert training.calls["stopped"] is True  # asked at once, not after its 30 s
    assert not any(name.startswith("i1.train") for name in json.loads((tmp_path / "out" / STAGES_FILE).read_text()))


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, training):
    training.hold = 30

    async def terminate_once_training():
        while not training.started.is_set():
            await asyncio.sleep(0.01)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # else the kill below would end the tests
        os.kill(os.getpid(), signal.SIGTERM)

    async def run_and_terminate():
        sender = asyncio.create_task(terminate_once_training())
        try:
            return await pipeline.run_experiment(small_config(tmp_path), progress=False, pool=Pool())
        finally:
            sender.cancel()

    with pytest.raises(KeyboardInterrupt):  # what the CLI reports as "interrupted: run the same command again to resume"
        run_stoppable(run_and_terminate())
    assert training.calls["stopped"] is True
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler lives only as long as the run


def test_a_training_resumes_from_its_newest_complete_checkpoint(tmp_path):
    assert last_checkpoint(tmp_path / "none") is None
    for step, complete in ((10, True), (9, True), (20, False)):  # 20: killed while saving
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_an_untrained_adapter_says_why(tmp_path):
    stages = Stages(tmp_path, {})
    for name, result in {
        "i1.sample.base": {"decisions": 1, "samples": 2, "pass_rate": 0.0, "kinds": {"collapse": 2}},
        "i1.datasets": {"agent_rerest": 3, "agent_self_training": 0},
        "i1.train.self_training": {"adapter": None, "examples": 0, "too_long": 0},
        "i1.train.rerest": {"adapter": None, "examples": 0, "too_long": 3},
    }.items():
        asyncio.run(stages.run(name, lambda result=result: result))
    lines = summary._iteration_lines(stages, 1, ("self_training", "rerest"), reflector_left_out=True)
    assert lines[-3:] == [
        "- adapter reflector: not trained in the last iteration (it would first serve in the next; "
        "reflection.train_last trains it)",
        "- adapter self_training: not trained (its data set is empty)",
        "- adapter rerest: not trained (all 3 examples longer than max_seq_len)",
    ]


def test_the_dpo_variant_and_transfer_to_other_scenarios(tmp_path, faked):
    config = small_config(tmp_path, dpo=True, transfer=["pasture"])
    asyncio.run(pipeline.run_experiment(config, progress=False, pool=Pool()))
    out = tmp_path / "out"
    pairs = read_jsonl(out / "iter1" / "data" / "dpo.jsonl")
    # 2 passing corrections over their failed samples + 4 failed samples under a passing one
    assert sorted(p["source"] for p in pairs) == ["correction"] * 2 + ["sample_pair"] * 4
    first = next(p for p in pairs if p["source"] == "correction")
    assert first["chosen"][0]["content"] == "Fewer this time.\nAnswer: 5"
    assert first["rejected"][0]["content"].endswith("Answer: 50")
    assert faked["objectives"] == {
        "iter1/self_training": "sft", "iter1/rerest": "sft", "iter1/dpo": "dpo",
    }  # and no reflector: this only iteration is the last
    rows = list(csv.DictReader(open(out / "rerest_summary.csv")))
    assert [(r["method"], r["runs"]) for r in rows] == [("base", "2"), ("self_training", "2"), ("rerest", "2"), ("dpo", "2")]

    transfer = list(csv.DictReader(open(out / "rerest_transfer.csv")))
    assert [(r["scenario"], r["method"], r["runs"]) for r in transfer] == [
        ("pasture", "base", "2"), ("pasture", "self_training", "2"), ("pasture", "rerest", "2"), ("pasture", "dpo", "2")
    ]
    pasture = read_run(out / "transfer" / "pasture" / "eval" / "rerest" / "seed100")
    assert pasture.config["scenario"] == "pasture"
    assert {e["adapter"] for e in pasture.of_type("llm_call")} == {str(out / "iter1" / "adapters" / "rerest")}
    answers = read_jsonl(out / "transfer" / "pasture" / "fixed" / "rerest.jsonl")
    assert answers and scenarios.load("pasture").vocabulary.unit in answers[0]["feedback"]
    summary = (out / "rerest_summary.md").read_text()
    assert "## Transfer" in summary and "### Episodes on the held-out seeds" in summary
    assert re.search(r"pasture: Each of the \d+ prompts counts once .*; none of them is a training prompt", summary)


class MergedPool(LLMPool):
    """The real pool merging adapters: each merged "model" is a FakeLLM answering as the
    script answers its adapter. Records which merged engines were open at every call."""

    def __init__(self, logit_error=0.12):
        super().__init__(LLMConfig(backend="fake"), factory=self.engine, merge=self.fake_merge)
        self.open_at_calls: list[set[str]] = []
        self.logit_error = logit_error  # against 0.1 for LoRA in bf16
        self.probed: dict[str, int] = {}
        self.started: list[str] = []  # the merged engines, as they were made

    def fake_merge(self, model, adapter, probes=()):
        folder = merged_path(adapter)
        folder.mkdir(exist_ok=True)
        self.probed.setdefault(f"{Path(adapter).parent.parent.name}/{Path(adapter).name}", len(probes))  # the first ask
        (folder / REPORT).write_text(json.dumps(
            {"model": model, "adapter": adapter, "logit_error": self.logit_error, "lora_logit_error": 0.1, "probe_tokens": 9}))
        return str(folder)

    def engine(self, backend, model, config, seed):
        adapter = model.removesuffix(".merged") if model.endswith(".merged") else None
        assert config.adapter is None
        if adapter:
            self.started.append(model)

        def reply(request):
            assert request.adapter is None or adapter is None  # a merged engine is asked without the adapter
            self.open_at_calls.append({m for _, m in self.engines if m.endswith(".merged")})
            return script(dataclasses.replace(request, adapter=adapter or request.adapter))

        return FakeLLM(reply, model=model)


def test_merged_adapters_give_the_results_of_lora_serving_one_engine_at_a_time(tmp_path, faked):
    results = {}
    for served, pool in (("lora", Pool()), ("merged", MergedPool())):
        out = tmp_path / served
        config = rerest_runs.small_config(out, iterations=2, transfer=["pasture"], merge_adapters=served == "merged")
        asyncio.run(pipeline.run_experiment(config, progress=False, pool=pool))
        stages = json.loads((out / STAGES_FILE).read_text())
        assert {entry["merge_adapters"] for entry in stages.values()} == {served == "merged"}
        results[served] = json.loads(
            json.dumps({n: e["result"] for n, e in stages.items() if ".merge." not in n}).replace(str(out), "OUT"))
        results[served + "_episodes"] = (out / "rerest_episodes.csv").read_text()
    assert results["merged"] == results["lora"]  # every stage's result, the adapters check included
    assert results["merged_episodes"] == results["lora_episodes"]
    adapter = tmp_path / "merged" / "iter2" / "adapters" / "rerest"
    calls = read_run(tmp_path / "merged" / "iter2" / "eval" / "rerest" / "seed100").of_type("llm_call")
    assert {(e["model"], e["adapter"]) for e in calls} == {(f"{adapter}.merged", str(adapter))}
    assert max(len(open_) for open_ in pool.open_at_calls) == 1  # never two merged engines at once
    assert len({m for open_ in pool.open_at_calls for m in open_}) == 5  # 2 x (rerest, self_training) and reflector 1
    # each adapter's engine starts once for the stages asking it in a row: rerest 1 for its evaluation, then for
    # iteration 2's episodes and samples; rerest 2 at home, then in pasture; the reflector once
    assert collections.Counter(Path(m).parent.parent.name + "/" + Path(m).name for m in pool.started) == {
        "iter1/reflector.merged": 1, "iter1/rerest.merged": 2, "iter1/self_training.merged": 2,
        "iter2/rerest.merged": 2, "iter2/self_training.merged": 2,
    }
    stages = json.loads((tmp_path / "merged" / STAGES_FILE).read_text())
    merges = sorted(n for n in stages if ".merge." in n)
    assert merges == [f"i{i}.merge.{m}" for i, m in ((1, "reflector"), (1, "rerest"), (1, "self_training"), (2, "rerest"),
                                                     (2, "self_training"))]
    assert stages["i2.merge.rerest"]["result"]["logit_error"] == 0.12
    assert set(pool.probed.values()) == {2} and len(pool.probed) == 5  # each measured on 2 held-out rows
    assert "; merged into the weights for serving: logits 12.0% of the adapter's effect away from the exact ones (LoRA in " \
        "bf16 10.0%; 9 held-out tokens)" in (
        tmp_path / "merged" / "rerest_summary.md").read_text()


def test_an_adapter_whose_merged_copy_strays_farther_than_lora_is_not_served_merged(tmp_path, faked):
    config = rerest_runs.small_config(tmp_path / "out", merge_adapters=True)
    with pytest.raises(ConfigError, match=r"iter1/adapters/\w+: merged into bf16 weights, its logits are 16% of the adapter's "
                       r"effect away from the exact ones, LoRA's in bf16 10% \(more than 1.5x\); run again with --set "
                       r"merge_adapters=false to serve it as LoRA"):
        asyncio.run(pipeline.run_experiment(config, progress=False, pool=MergedPool(logit_error=0.16)))
    stages = json.loads((tmp_path / "out" / STAGES_FILE).read_text())
    assert "i1.train.rerest" in stages and not any(".merge." in n or ".fixed." in n for n in stages if n.startswith("i1."))
    # served as LoRA instead (an execution key: the finished stages are kept)
    asyncio.run(pipeline.run_experiment(config.model_copy(update={"merge_adapters": False}), progress=False, pool=Pool()))
    stages = json.loads((tmp_path / "out" / STAGES_FILE).read_text())
    assert stages["i1.eval.rerest"]["merge_adapters"] is False and stages["i1.train.rerest"]["merge_adapters"] is True
    # resumed merged once all is done, nothing is merged (or refused) and nothing is asked
    again = MergedPool(logit_error=0.5)
    asyncio.run(pipeline.run_experiment(config, progress=False, pool=again))
    assert not again.started and not any(".merge." in n for n in json.loads((tmp_path / "out" / STAGES_FILE).read_text()))
    for pool in (Pool(), MergedPool()):
        wrong = config.model_copy(update={"merge_adapters": isinstance(pool, Pool)})
        with pytest.raises(ConfigError, match="merge_adapters and the pool disagree"):
            asyncio.run(pipeline.run_experiment(wrong, progress=False, pool=pool))
    served = rerest_runs.small_config(tmp_path / "api", merge_adapters=True, **{"run.llm.backend": "openai"})
    with pytest.raises(ConfigError, match=r"merge_adapters needs a local backend \(vllm or transformers\)"):
        asyncio.run(pipeline.run_experiment(served, progress=False, pool=MergedPool()))


def test_resuming_with_another_config_is_refused(tmp_path, faked):
    asyncio.run(pipeline.run_experiment(small_config(tmp_path), progress=False, pool=Pool()))
    with pytest.raises(ConfigError, match="another config; use --restart"):
        Stages(tmp_path / "out", small_config(tmp_path, **{"sampling.k": 3}).model_dump(mode="json"))
    saved = tmp_path / "out" / "rerest_config.json"
    older = json.loads(saved.read_text())
    del older["threads"]  # as written before the key existed: it means the default
    saved.write_text(json.dumps(older))
    again = asyncio.run(pipeline.run_experiment(small_config(tmp_path), progress=False, pool=Pool()))
    assert again.exists()
    # how it runs is not what it computes: threads and checkpoint spacing may change on resume
    faster = small_config(tmp_path, threads=2, **{"training.save_steps": 7}).model_dump(mode="json")
    Stages(tmp_path / "out", faster, normalize=rerest_config.identity)
    # nor is training the last reflector too, which changes no finished stage: a finished run adds it
    last_too = small_config(tmp_path, **{"reflection.train_last": True})
    asyncio.run(pipeline.run_experiment(last_too, progress=False, pool=Pool()))
    assert faked["train"] == ["iter1/self_training", "iter1/rerest", "iter1/reflector"]
    shutil.copytree(tmp_path / "out", tmp_path / "moved")  # a run folder moved elsewhere resumes there
    moved = small_config(tmp_path, out=str(tmp_path / "moved")).model_dump(mode="json")
    assert Stages(tmp_path / "moved", moved, normalize=rerest_config.identity).record
    reading = Stages(tmp_path / "moved", moved, normalize=rerest_config.identity, read_only=True)
    with pytest.raises(RuntimeError, match="i9.train.rerest is not done and .* was opened read-only"):
        asyncio.run(reading.run("i9.train.rerest", dict))
    (tmp_path / "out" / "notes.txt").write_text("mine")  # not the run's: a restart keeps it
    restarted = Stages(tmp_path / "out", small_config(tmp_path, **{"sampling.k": 3}).model_dump(mode="json"), restart=True)
    assert restarted.record == {}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt", "rerest_config.json"]  # the new config


@pytest.mark.parametrize("overrides, message", [
    ({"sampling.kk": 2}, "unknown key 'sampling.kk'; allowed here: k, max_tokens, temperature, top_p"),
    ({"eval_seeds": [0]}, "eval_seeds must be held out from train_seeds; both have [0]"),
    ({"subskills.tests": ["sim_guess"]}, "subskills: subskill test 'sim_guess' is unknown; known: math_shrinking_limit"),
    ({"run": {"monthz": 2}}, "run: unknown key 'monthz'"),
    ({"run": {"agents": [{"name": "A", "type": "wizard"}]}}, "run: unknown agent type 'wizard'"),
    ({"training.r": 0}, "training.r: Input should be greater than or equal to 1"),
    ({"transfer": ["pasture", "moon"]}, "transfer: unknown scenario 'moon'"),
    ({"transfer": ["fishery"]}, "transfer: 'fishery' is the training scenario"),
])
def test_bad_config_is_one_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        rerest_config.load(overrides=overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_reflector_control_asks_the_runs_failed_samples_again(tmp_path, faked):
    import subprocess
    import sys

    script = [sys.executable, "experiments/rerest_reflector_control.py"]
    asyncio.run(pipeline.run_experiment(small_config(tmp_path), progress=False, pool=Pool()))
    out = tmp_path / "out"
    failed = sum(not s["passed"] for s in read_jsonl(out / "iter1" / "samples" / "base" / "samples.jsonl"))
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    done = subprocess.run([*script, str(out), "--modes", "digits", "free", "--save", str(tmp_path / "c.jsonl")],
                          capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == f"iteration 1: {failed} failed samples of base, reflector base"
    assert [line.split()[0] for line in lines[1:]] == ["run", "digits", "free"]
    assert all(f"/{failed} " in line for line in lines[1:])
    assert [r["mode"] for r in read_jsonl(tmp_path / "c.jsonl")] == ["digits"] * failed + ["free"] * failed
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # the run's folder is only read
    missing = subprocess.run([*script, str(out), "--iteration", "2"], capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith("has no finished stage i2.reflect; run the experiment that far first")


def test_episodes_whose_model_stopped_answering_fail_their_stage_and_run_again(tmp_path, faked):
    from govsim.llm.base import LLMError
    from govsim.rerest.evaluate import EpisodesFailed

    class Dying(Pool):
        """The engine dies once the Re-ReST adapter plays its held-out episodes."""

        dead = True

        async def _call(self, view, request):
            playing = (request.adapter or view.default_adapter or "").endswith("rerest") and request.tag_dict.get(
                "purpose") not in ("rerest_eval", "subskill")
            if self.dead and playing:
                raise LLMError("engine died")
            return await super()._call(view, request)

    config = small_config(tmp_path)
    with pytest.raises(EpisodesFailed, match=r"^2 of 2 episodes stopped \(.*seed10\d: .*engine died.*run the same command again"):
        asyncio.run(pipeline.run_experiment(config, progress=False, pool=Dying()))
    done = json.loads((tmp_path / "out" / STAGES_FILE).read_text())
    assert "i1.eval.self_training" in done and "i1.eval.rerest" not in done and "i1.check" not in done
    rerest = tmp_path / "out" / "iter1" / "eval" / "rerest"
    with warnings.catch_warnings():  # a report while they run (no summary yet): all their metrics are missing
        warnings.simplefilter("error")  # pandas warned on concatenating such all-NA columns
        summaries = {path: path.read_bytes() for path in rerest.glob("seed*/summary.json")}
        for path in summaries:
            path.unlink()
        assert "| base" in pipeline.report(config).read_text()
    for path, text in summaries.items():
        path.write_bytes(text)
    pool = Dying()
    pool.dead = False
    asyncio.run(pipeline.run_experiment(config, progress=False, pool=pool))  # the stopped episodes run again
    assert all(read_run(rerest / f"seed{s}").summary["valid"] for s in (100, 101))


def test_stage_time_spans_count_overlaps_once_and_leave_gaps_out():
    from govsim.rerest.summary import _span

    def stage(end, wall_s):
        return {"at": end, "wall_s": wall_s}

    assert _span([stage(10, 10), stage(15, 10)]) == 15  # 0-10 and 5-15 overlap
    assert _span([stage(10, 10), stage(8, 2)]) == 10  # one inside the other
    assert _span([stage(10, 10), stage(3610, 10)]) == 20  # resumed an hour later: the gap is not wall clock of the run
