"""Benchmark: an adapter served as LoRA by vLLM against the same adapter merged into the weights.

The prompts are real ones: the last ``--purpose`` call of each run under ``--runs`` (by
default each episode's last talk prompt). Each engine runs in its own process,
one after the other, and answers the batch twice: cold (nothing cached) and warm (the
prompts in the prefix cache, so mostly decoding). Replies have a fixed length and are
greedy. Printed: seconds per batch, ratios to the merged copy, and how many greedy
replies the merged copy shares with LoRA serving (bf16 rounding differs between the two).

Run:
    python experiments/bench_lora_serving.py --adapter runs/rerest-fishery/iter2/adapters/rerest \\
        --runs runs/rerest-fishery/iter2/eval/rerest
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from govsim.llm.embedded import resolve_model
from govsim.llm.merged import merge
from govsim.llm.vllm_backend import lora_rank
from govsim.runlog import EVENTS_FILE, find_runs, iter_events


def prompts_of(root: Path, purpose: str) -> list:
    """The last ``purpose`` call's messages of each run under root."""
    prompts = []
    for run in find_runs(root):
        calls = [e for e in iter_events(run / EVENTS_FILE, []) if e.get("type") == "llm_call" and e.get("purpose") == purpose]
        if calls:
            prompts.append(calls[-1]["messages"])
    return prompts


def measure(model: str, adapter: str | None, prompts_file: Path, tokens: int) -> dict:
    """In this process: one engine, the batch answered cold, then warm."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    prompts = json.loads(prompts_file.read_text())
    llm = LLM(
        model=model, enable_lora=adapter is not None, max_lora_rank=lora_rank(adapter), max_model_len=8192, block_size=32, seed=0
    )
    params = SamplingParams(temperature=0, max_tokens=tokens, min_tokens=tokens)
    lora = LoRARequest("adapter", 1, adapter) if adapter else None
    result = {}
    for run in ("cold", "warm"):
        started = time.perf_counter()
        out = llm.chat(prompts, params, lora_request=lora, use_tqdm=False)
        result[f"{run}_s"] = round(time.perf_counter() - started, 1)
    result["texts"] = [o.outputs[0].text for o in out]
    result["prompt_tokens"] = round(sum(len(o.prompt_token_ids) for o in out) / len(out))
    return result


def in_child(*args: str) -> dict:
    """``measure`` in a fresh process (an engine per process: vLLM does not start a second one cleanly)."""
    out = Path(args[2]).with_name(f"measured-{Path(args[0]).name}.json")
    subprocess.run([sys.executable, __file__, "--child", *args, str(out)], check=True)
    return json.loads(out.read_text())


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # one engine's measurement, in its own process
        model, adapter, prompts_file, tokens, out = sys.argv[2:]
        Path(out).write_text(json.dumps(measure(model, adapter or None, Path(prompts_file), int(tokens))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--runs", type=Path, required=True, help="a folder of run logs to take prompts from")
    parser.add_argument("--purpose", default="converse", help="which call's prompt to take from each run")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--tokens", type=int, default=96)
    args = parser.parse_args()
    model = resolve_model(args.model)
    prompts = prompts_of(args.runs, args.purpose)
    if not prompts:
        sys.exit(f"no '{args.purpose}' call in the runs under {args.runs}: pick another --purpose or --runs")
    with tempfile.TemporaryDirectory() as tmp:
        prompts_file, merged = Path(tmp) / "prompts.json", Path(tmp) / "merged"
        prompts_file.write_text(json.dumps(prompts))
        kept = merge(model, args.adapter, merged)
        lora = in_child(model, args.adapter, str(prompts_file), str(args.tokens))
        fused = in_child(str(merged), "", str(prompts_file), str(args.tokens))
    same = sum(a == b for a, b in zip(lora["texts"], fused["texts"]))
    print(f"{len(prompts)} prompts of ~{lora['prompt_tokens']} tokens, {args.tokens} tokens each, greedy")
    print("| serving | cold s | warm s | cold ratio | warm ratio |\n|---|---|---|---|---|")
    for name, r in (("LoRA", lora), ("merged", fused)):
        ratios = " | ".join(f"{r[k] / fused[k]:.2f}" for k in ("cold_s", "warm_s"))
        print(f"| {name} | {r['cold_s']} | {r['warm_s']} | {ratios} |")
    print(f"greedy replies identical: {same} of {len(prompts)}")
    print(f"bfloat16 rounding error of the merged weight change: {kept['delta_error']:.3f} of its norm")


if __name__ == "__main__":
    main()
