"""A LoRA adapter merged into its base model's weights: a plain model folder any backend loads.

Why: vLLM on a CPU serves an adapter at 1.75x (warm) to 2.9x (cold) the time of the same
adapter merged into the weights (``experiments/bench_lora_serving.py``, docs/models.md).
The merge is PEFT's ``merge_and_unload`` in float32, saved in bfloat16 with the base
model's tokenizer, once per adapter: ``<adapter>.merged`` beside it (a whole bf16 model:
270 MB for SmolLM2-135M; merging holds one in float32 in memory), written under a
temporary name and renamed, so a killed merge leaves nothing that looks finished.

Both ways of serving round to bf16, in different places: the merged copy rounds each
weight W + BA, LoRA serving each layer's output x·W + x·A·B. So the merge measures itself
against LoRA in bf16 on probe texts (e.g. the adapter's held-out rows) and writes the
result to ``merge.json``: how far each way's logits are from the adapter's exact (float32)
logits, as a share of how far the adapter moves them from the base model's. Measured on
Re-ReST's first agent adapter (75 steps at lr 3e-4; 963 tokens of 2 held-out rows): merged
0.145, LoRA in bf16 0.149; yet bf16 rounding of the weights lost 41 % of the weight change
(``delta_error``), which is why the weights are not the test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from govsim.llm.embedded import resolve_model

SUFFIX = ".merged"
REPORT = "merge.json"  # written last: a folder without it is an unfinished merge
# How much farther from the adapter's exact logits a merged copy may be than LoRA served in
# bf16 is (both as a share of the adapter's effect), for the copy to stand for the adapter.
MAX_EXCESS = 1.5
PROBE_TOKENS = 1024  # each probe text is cut to this many tokens

Messages = Sequence[dict[str, str]]


def merged_path(adapter: str | Path) -> Path:
    """Where the merged copy of ``adapter`` is (or will be) kept."""
    adapter = Path(adapter)
    return adapter.with_name(adapter.name + SUFFIX)


def merged_copy(model: str, adapter: str | Path, probes: Sequence[Messages] = ()) -> str:
    """The folder of ``adapter`` merged into ``model`` (a name or folder), merged on first use
    (measured against LoRA on the ``probes``, chat conversations, if given)."""
    target, model = merged_path(adapter), resolve_model(model)
    if (target / REPORT).is_file() and report(target)["model"] != model:
        raise ValueError(f"{target} was merged into {report(target)['model']}, not {model}: serve this adapter as LoRA")
    if not (target / REPORT).is_file():
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        merge(model, str(adapter), tmp, probes)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return str(target)


def report(merged: str | Path) -> dict[str, Any]:
    """What ``merge`` wrote about a merged copy (``merge.json``)."""
    return json.loads((Path(merged) / REPORT).read_text())


def faithful(kept: dict[str, Any]) -> bool:
    """Whether a merged copy stands for its adapter: its logits no more than ``MAX_EXCESS``
    times farther from the exact ones than LoRA's in bf16 (True when it was not probed)."""
    return kept.get("logit_error") is None or kept["logit_error"] <= MAX_EXCESS * kept["lora_logit_error"]


def merge(model: str, adapter: str, out: Path, probes: Sequence[Messages] = ()) -> dict[str, Any]:
    """PEFT's merge of the adapter (in float32), saved in bfloat16 with the model's tokenizer,
    and ``merge.json``: ``logit_error`` and ``lora_logit_error`` over the probes (None
    without probes), and ``delta_error``, the weights' rounding error over the norm of the
    adapter's weight change."""
    import torch
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    inputs = [tokenizer.apply_chat_template(list(p), return_tensors="pt", return_dict=True)["input_ids"][:, :PROBE_TOKENS]
              for p in probes]

    def logits(llm: Any) -> list[Any]:
        with torch.no_grad():
            return [llm(ids).logits[0].float() for ids in inputs]

    def load(dtype: Any) -> Any:
        return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model, dtype=dtype), adapter).eval()

    tuned = load(torch.float32)
    exact = logits(tuned)
    with tuned.disable_adapter():
        base = logits(tuned)
    lora = logits(load(torch.bfloat16))
    error = change = 0.0
    with torch.no_grad():
        for layer in (m for m in tuned.modules() if isinstance(m, LoraLayer)):
            for name in layer.active_adapters:
                delta = layer.get_delta_weight(name)
                weight = layer.get_base_layer().weight + delta
                error += float((weight.to(torch.bfloat16).float() - weight).pow(2).sum())
                change += float(delta.pow(2).sum())
    fused = tuned.merge_and_unload().to(torch.bfloat16).eval()
    merged = logits(fused)
    fused.save_pretrained(out)
    tokenizer.save_pretrained(out)
    effect = sum(float((e - b).pow(2).sum()) for e, b in zip(exact, base)) ** 0.5

    def share(served: list[Any]) -> float | None:
        if not inputs or not effect:
            return None
        return sum(float((s - e).pow(2).sum()) for s, e in zip(served, exact)) ** 0.5 / effect

    kept = {
        "logit_error": share(merged), "lora_logit_error": share(lora), "probe_tokens": sum(i.shape[1] for i in inputs),
        "delta_error": (error / change) ** 0.5 if change else 0.0, "delta_norm": change**0.5,
    }
    (out / REPORT).write_text(json.dumps({"model": model, "adapter": adapter, **kept}, indent=1))
    return kept
