"""Re-ReST end to end on the REAL embedded model (SmolLM2-135M), test-sized.

``experiments/rerest_tiny.yaml``: 1 training seed, 3 generative agents, 2 months, k=2, two
LoRA steps, 1 held-out seed, on the transformers backend (no vLLM engine start-up).
Checks that the data sets, the adapters and the evaluation exist, and that the Re-ReST
adapter was really applied when evaluating: the run logs name it on every call, and its
greedy replies differ from the base model's.
"""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govsim.cli import app
from govsim.llm.base import LLMError
from govsim.llm.embedded import resolve_model
from govsim.rerest.decisions import is_first_harvest_call
from govsim.rerest.stages import read_jsonl
from govsim.rerest.summary import COLUMNS
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
    assert "| iteration | method | runs |" in result.output

    stages = {name: r["result"] for name, r in json.loads((out / "stages.json").read_text()).items()}
    it = out / "iter1"
    samples = read_jsonl(it / "samples" / "base" / "samples.jsonl")
    decisions = read_jsonl(it / "samples" / "base" / "decisions.jsonl")
    assert decisions and len(samples) == 2 * len(decisions)
    assert all({"passed", "kind", "feedback", "outcome"} <= set(s) for s in samples)
    reflections = read_jsonl(it / "reflections.jsonl")
    assert len(reflections) == sum(not s["passed"] for s in samples)
    sizes = stages["i1.datasets"]
    assert sizes["d_m"] + sizes["d_r"] == sizes["agent_rerest"] > 0, sizes
    for row in read_jsonl(it / "data" / "agent_rerest.jsonl"):
        assert row["prompt"][-1]["role"] == "user" and row["completion"][0]["role"] == "assistant"

    adapter = it / "adapters" / "rerest"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert stages["i1.train.rerest"]["steps"] == 2

    for root in (out / "eval_base" / "seed100", it / "eval" / "rerest" / "seed100"):
        assert read_run(root).finished
    calls = read_run(it / "eval" / "rerest" / "seed100").of_type("llm_call")
    assert calls and {c["adapter"] for c in calls} == {str(adapter.resolve())}
    assert any(is_first_harvest_call(c) for c in calls)
    assert {c["adapter"] for c in read_run(out / "eval_base" / "seed100").of_type("llm_call")} == {None}
    greedy = stages["i1.check"]["rerest"]["greedy"]
    assert greedy["differ"] >= 1, greedy  # the adapter changes what the model says

    rows = list(csv.DictReader(open(out / "rerest_summary.csv")))
    assert list(rows[0]) == COLUMNS
    assert [(r["iteration"], r["method"]) for r in rows] == [("0", "base"), ("1", "self_training"), ("1", "rerest")]
    assert rows[2]["runs"] == "1" and rows[2]["reflection_pass_rate"] != ""

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


@pytest.mark.parametrize("objective", ["sft", "dpo"])
def test_lora_training_on_the_embedded_model(tmp_path, objective):
    """Both objectives write a complete adapter; over-long examples are left out and counted."""
    pytest.importorskip("trl")
    try:
        model = resolve_model("embedded")
    except LLMError as exc:
        pytest.skip(str(exc))
    from govsim.rerest.config import TrainingSpec
    from govsim.rerest.train import train_lora

    def reply(text):
        return [{"role": "assistant", "content": text}]

    rows = []
    for stock in (40, 60, 80, 100):
        row = {"prompt": [{"role": "user", "content": f"The lake holds {stock} tons. How many do you catch?"}]}
        if objective == "sft":
            row["completion"] = reply(f"Answer: {stock // 10} tons.")
        else:
            row |= {"chosen": reply(f"Answer: {stock // 10} tons."), "rejected": reply(f"Answer: {stock} tons.")}
        rows.append(row)
    rows.append({**rows[0], "prompt": [{"role": "user", "content": "fish " * 200}]})
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train_lora(model, data, tmp_path / "adapter", TrainingSpec(max_steps=1, batch_size=2, max_seq_len=128),
                        progress=False, objective=objective)
    assert (result["examples"], result["too_long"], result["steps"]) == (4, 1, 1)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "adapter.work").exists() and not (tmp_path / "adapter.tmp").exists()
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (8, 16, ["q_proj", "v_proj"])
