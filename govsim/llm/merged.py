"""A LoRA adapter merged into its base model's weights: a plain model folder any backend loads.

Why: vLLM on a CPU serves an adapter at 1.75x (warm) to 2.9x (cold) the time of the same
adapter merged into the weights (``experiments/bench_lora_serving.py``, docs/models.md).
The merge is PEFT's ``merge_and_unload`` in float32, saved in bfloat16 with the base
model's tokenizer, once per adapter: ``<adapter>.merged`` beside it (a whole bf16 model:
270 MB for SmolLM2-135M; merging holds one in float32 in memory), written under a
temporary name and renamed, so a killed merge leaves nothing that looks finished; its
``merge.json`` says how much of the adapter's change bfloat16 rounding kept. Greedy
replies of the merged copy can differ from LoRA serving in late tokens (bf16 rounds the
sum W + BA once instead of adding the two products per token).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from govsim.llm.embedded import resolve_model

SUFFIX = ".merged"
REPORT = "merge.json"  # written last: a folder without it is an unfinished merge
# The most of an adapter's weight change that rounding may lose for the copy to stand for it
# (measured: 0.92 lost by an adapter of 2 steps at lr 3e-4, 0.019 by its change made 300 times larger).
MAX_DELTA_ERROR = 0.1


def merged_path(adapter: str | Path) -> Path:
    """Where the merged copy of ``adapter`` is (or will be) kept."""
    adapter = Path(adapter)
    return adapter.with_name(adapter.name + SUFFIX)


def merged_copy(model: str, adapter: str | Path) -> str:
    """The folder of ``adapter`` merged into ``model`` (a name or folder), merged on first use."""
    target, model = merged_path(adapter), resolve_model(model)
    if (target / REPORT).is_file() and report(target)["model"] != model:
        raise ValueError(f"{target} was merged into {report(target)['model']}, not {model}: serve this adapter as LoRA")
    if not (target / REPORT).is_file():
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        merge(model, str(adapter), tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return str(target)


def report(merged: str | Path) -> dict[str, Any]:
    """What ``merge`` wrote about a merged copy (``merge.json``)."""
    return json.loads((Path(merged) / REPORT).read_text())


def merge(model: str, adapter: str, out: Path) -> dict[str, float]:
    """PEFT's merge of the adapter (in float32), saved in bfloat16 with the model's tokenizer,
    and ``merge.json``: how much of the adapter's change survives bfloat16 (``delta_error``,
    the rounding error's norm over the norm of the adapter's weight change, 0 is exact; a
    small adapter on large weights loses its change here, where LoRA serving rounds each
    layer's output instead)."""
    import torch
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32), adapter)
    error = change = 0.0
    with torch.no_grad():
        for layer in (m for m in tuned.modules() if isinstance(m, LoraLayer)):
            for name in layer.active_adapters:
                delta = layer.get_delta_weight(name)
                exact = layer.get_base_layer().weight + delta
                error += float((exact.to(torch.bfloat16).float() - exact).pow(2).sum())
                change += float(delta.pow(2).sum())
    tuned.merge_and_unload().to(torch.bfloat16).save_pretrained(out)
    AutoTokenizer.from_pretrained(model).save_pretrained(out)
    kept = {"delta_error": (error / change) ** 0.5 if change else 0.0, "delta_norm": change**0.5}
    (out / REPORT).write_text(json.dumps({"model": model, "adapter": adapter, **kept}, indent=1))
    return kept
