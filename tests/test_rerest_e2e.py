"""Re-ReST end to end on the REAL embedded model (SmolLM2-135M), test-sized.

``experiments/rerest_tiny.yaml``: 1 training seed, 3 generative agents, 2 months, k=2, a
20-token reply budget, three LoRA epochs, 1 held-out seed, on the transformers backend (no
vLLM engine start-up). Checks that the data sets, the adapters and both evaluations
exist, that passing corrections fit the agent's budget, and that the Re-ReST adapter was
really applied: the run logs name it on every call, and its greedy replies to the fixed
prompts differ from the base model's.
"""

import csv
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govsim.cli import app
from govsim.llm.base import LLMError
from govsim.llm.embedded import resolve_model
from govsim.rerest.decisions import is_first_harvest_call
from govsim.rerest.reply import Reader, token_counter
from govsim.rerest.results import COLUMNS
from govsim.rerest.stages import read_jsonl
from govsim.runlog import read_run

TINY = Path(__file__).parent.parent / "experiments" / "rerest_tiny.yaml"



def test_one_iteration_on_the_embedded_model(tmp_path):
    pytest.importorskip("trl")
    try:
        resolve_model("embedded")
    except LLMError as exc:
        pytest.skip(str(exc))
    out = tmp_path / "rerest"
    result = CliRunner().invoke(app, ["rerest", str(TINY), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "## Fixed inputs: the same" in result.output

    stages = {name: r["result"] for name, r in json.loads((out / "stages.json").read_text()).items()}
    it = out / "iter1"
    samples = read_jsonl(it / "samples" / "base" / "samples.jsonl")
    decisions = read_jsonl(it / "samples" / "base" / "decisions.jsonl")
    assert decisions and len(samples) == 2 * len(decisions)
    assert all({"passed", "kind", "feedback", "outcome"} <= set(s) for s in samples)
    assert all("\nAnswer: " in s["text"] or s["text"].startswith("Answer: ") for s in samples)  # the agent's form
    reflections = read_jsonl(it / "reflections.jsonl")
    assert len(reflections) == sum(not s["passed"] for s in samples)
    reader = Reader(20, token_counter("transformers", "embedded"))  # the tiny config's reply budget
    for row in reflections:  # every passing correction is a first reply within the agent's budget
        assert not row["passed"] or reader.read(row["text"]).problem is None
    sizes = stages["i1.datasets"]
    assert sizes["d_m"] + sizes["d_r"] == sizes["agent_rerest"] > 0, sizes
    for row in read_jsonl(it / "data" / "agent_rerest.jsonl"):
        assert row["prompt"][-1]["role"] == "user" and row["completion"][0]["role"] == "assistant"

    adapter = it / "adapters" / "rerest"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    trained = stages["i1.train.rerest"]
    assert trained["epochs"] == 3.0 and [e["epoch"] for e in trained["epoch_losses"]] == [1, 2, 3]
    assert trained["heldout_examples"] > 0 and [e["epoch"] for e in trained["heldout_losses"]] == [0.0, 1.0, 2.0, 3.0]

    prompts = {d["id"] for d in read_jsonl(out / "fixed" / "decisions.jsonl")}
    answers = read_jsonl(it / "fixed" / "rerest.jsonl")
    assert {a["decision"] for a in answers} == prompts and len(answers) == 3 * len(prompts)  # k = 2, and greedy
    fixed = stages["i1.fixed.rerest"]
    assert fixed["sampled"]["n"] == 2 * len(prompts) and fixed["vs_base"]["differ"] >= 1  # the adapter changes replies

    for root in (out / "eval_base" / "seed100", it / "eval" / "rerest" / "seed100"):
        assert read_run(root).finished
    calls = read_run(it / "eval" / "rerest" / "seed100").of_type("llm_call")
    assert calls and {c["adapter"] for c in calls} == {str(adapter.resolve())}
    assert any(is_first_harvest_call(c) for c in calls)
    assert {c["adapter"] for c in read_run(out / "eval_base" / "seed100").of_type("llm_call")} == {None}

    rows = list(csv.DictReader(open(out / "rerest_summary.csv")))
    assert list(rows[0]) == COLUMNS
    assert [(r["iteration"], r["method"]) for r in rows][0] == ("0", "base") and ("1", "rerest") in [
        (r["iteration"], r["method"]) for r in rows
    ]
    rerest = next(r for r in rows if r["method"] == "rerest")
    assert rerest["runs"] == "1" and rerest["reflection_pass_rate"] != "" and rerest["sample_n"] == str(2 * len(prompts))

    table = (out / "rerest_summary.md").read_text()
    again = CliRunner().invoke(app, ["rerest", str(TINY), "--out", str(out), "--no-progress"])
    assert again.exit_code == 0 and table in again.output
    assert "Loading weights" not in again.output  # every stage was done: the model was not even loaded
    assert (out / "rerest_summary.md").read_text() == table


def test_bad_rerest_config_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sampling: {k: 2, kk: 3}\n")
    result = CliRunner().invoke(app, ["rerest", str(bad)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1
    assert "unknown key 'sampling.kk'; allowed here: k, max_tokens, temperature, top_p" in lines[0]
    for args, message in [
        (["--report", "--restart"], "--report reads the finished stages and --restart clears them; use one"),
        (["--report", "--out", str(tmp_path / "none")], "has no finished Re-ReST stage to report; run the experiment first"),
    ]:
        result = CliRunner().invoke(app, ["rerest", "experiments/rerest_tiny.yaml", *args])
        assert result.exit_code == 2 and result.output.strip().endswith(message), result.output


@pytest.mark.parametrize("objective", ["sft", "dpo"])
def test_lora_training_on_the_embedded_model(tmp_path, objective):
    """Both objectives write a complete adapter with per-epoch and held-out losses; over-long
    examples are left out and counted; a training started from an adapter goes on from it."""
    pytest.importorskip("trl")
    try:
        model = resolve_model("embedded")
    except LLMError as exc:
        pytest.skip(str(exc))
    from govsim.rerest.config import TrainingSpec
    from govsim.rerest.train import Stopped, train_lora

    def reply(text):
        return [{"role": "assistant", "content": text}]

    def rows_for(stocks):
        rows = []
        for stock in stocks:
            row = {"prompt": [{"role": "user", "content": f"The lake holds {stock} tons. How many do you catch?"}]}
            if objective == "sft":
                row["completion"] = reply(f"Answer: {stock // 10} tons.")
            else:
                row |= {"chosen": reply(f"Answer: {stock // 10} tons."), "rejected": reply(f"Answer: {stock} tons.")}
            rows.append(row)
        return rows

    def write(name, rows):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    train = rows_for((40, 60, 80, 100))
    data = write("data.jsonl", [*train, {**train[0], "prompt": [{"role": "user", "content": "fish " * 200}]}])
    heldout = write("heldout.jsonl", rows_for((50, 70, 90)))
    spec = TrainingSpec(epochs=2, batch_size=4, max_seq_len=128, heldout_rows=2)  # the held-out loss on a sample
    result = train_lora(model, data, tmp_path / "adapter", spec, progress=False, objective=objective, heldout=heldout)
    assert (result["examples"], result["too_long"], result["steps"], result["heldout_examples"]) == (4, 1, 2, 2)
    assert result["heldout_fitting"] == 3
    assert [e["epoch"] for e in result["epoch_losses"]] == [1, 2] and result["init"] is None
    assert [e["epoch"] for e in result["heldout_losses"]] == [0.0, 1.0, 2.0]
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "adapter.work").exists() and not (tmp_path / "adapter.tmp").exists()
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (8, 16, ["q_proj", "v_proj"])
    if objective == "sft":
        early = threading.Event()
        early.set()  # asked before the training began: no step is taken
        with pytest.raises(Stopped, match="stopped before its first step"):
            train_lora(model, data, tmp_path / "halted", spec, progress=False, heldout=heldout, stop=early)

        class DuringStepOne(threading.Event):
            """Unset when train_lora looks before training, set from then on: a Ctrl-C during step 1."""

            def __init__(self):
                super().__init__()
                self.looks = 0

            def is_set(self):
                self.looks += 1
                return self.looks > 1

        # the step under way is saved, with its epoch's held-out loss, and the training resumes from it
        with pytest.raises(Stopped, match="stopped at step 1"):
            train_lora(model, data, tmp_path / "halted", spec, progress=False, heldout=heldout, stop=DuringStepOne())
        assert (tmp_path / "halted.work" / "checkpoint-1").is_dir() and not (tmp_path / "halted").exists()
        # the work folder keeps the loss before training and the time spent up to checkpoint-1
        kept = json.loads((tmp_path / "halted.work" / "progress.json").read_text())
        assert kept["before"] == pytest.approx(result["heldout_losses"][0]["loss"], abs=1e-4) and kept["train_s"] > 0
        resumed = train_lora(model, data, tmp_path / "halted", spec, progress=False, heldout=heldout)
        assert resumed["steps"] == 2 and (tmp_path / "halted" / "adapter_model.safetensors").is_file()
        assert resumed["heldout_losses"][0]["loss"] == kept["before"] and resumed["train_s"] > kept["train_s"]
        assert [e["epoch"] for e in resumed["heldout_losses"]] == [0.0, 1.0, 2.0]  # epoch 1's was saved with its step
        # a finished adapter keeps its record: asked again (its stage unrecorded), it trains nothing
        assert train_lora(model, data, tmp_path / "halted", spec, progress=False, heldout=heldout) == resumed
        first = str(tmp_path / "adapter")
        one_step = spec.model_copy(update={"max_steps": 1})
        more = train_lora(model, data, tmp_path / "more", one_step, progress=False, init=first, heldout=heldout)
        # it starts where the first adapter ended: the same held-out loss before any step
        assert more["init"] == first
        assert more["heldout_losses"][0]["loss"] == pytest.approx(result["heldout_losses"][-1]["loss"], abs=2e-3)
        assert len(more["heldout_losses"]) == 2  # before, and after its one (partial-epoch) step
        merged_into_the_weights(model, first, tmp_path)


def merged_into_the_weights(model, adapter, tmp_path):
    """An adapter merged into the weights answers as PEFT's adapter does, measured against
    LoRA in bf16 on probe texts; the copy is kept."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from govsim.llm.merged import faithful, merged_copy, report

    probes = [[{"role": "user", "content": f"The lake holds {stock} tons. How many do you catch?"},
               {"role": "assistant", "content": f"Answer: {stock // 10} tons."}] for stock in (50, 70)]
    small = Path(merged_copy(model, adapter))  # not probed: only the weights' rounding is known
    assert small.name == "adapter.merged" and not small.with_name("adapter.merged.tmp").exists()
    kept = report(small)
    assert kept["adapter"] == adapter and kept["delta_norm"] > 0 and kept["logit_error"] is None and faithful(kept)
    stamp = (small / "model.safetensors").stat().st_mtime_ns
    assert merged_copy(model, adapter) == str(small) and (small / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="was merged into .*, not /another/model: serve this adapter as LoRA"):
        merged_copy("/another/model", adapter)
    strong = tmp_path / "strong"  # the adapter's change made large, as a long training's is
    strong.mkdir()
    (strong / "adapter_config.json").write_text((Path(adapter) / "adapter_config.json").read_text())
    weights = load_file(Path(adapter) / "adapter_model.safetensors")
    save_file({k: v * 300 if "lora_B" in k else v for k, v in weights.items()}, strong / "adapter_model.safetensors")
    merged = Path(merged_copy(model, strong, probes))
    kept = report(merged)
    assert faithful(kept) and 0 < kept["logit_error"] < 0.2 and 0 < kept["lora_logit_error"] < 0.2, kept

    ids = AutoTokenizer.from_pretrained(model)("The lake holds 80 tons. How many do you catch?", return_tensors="pt").input_ids

    def logits(m):
        with torch.no_grad():
            return m(ids).logits[0].float()

    base = logits(AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32))
    tuned = logits(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32), str(strong)))
    fused = logits(AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32))
    assert (fused - tuned).norm() < 0.2 * (tuned - base).norm(), ((fused - tuned).norm(), (tuned - base).norm())
