"""Do the reflector's corrections pass because it reasons, or because its answer is bounded?

Re-ReST's default reflector (``reflection.answer: bounded``) continues 'Answer: ' under a
constraint that admits only the amounts passing the decision, so its corrections pass by
construction. This script asks the same reflector (the same adapter, prompts and failed
samples) of one iteration of a Re-ReST run again with other answer modes, and prints each
mode's pass rate with Wilson's 95 % interval and the outcomes by kind beside the run's own
corrections. It reads the run's folder and writes nothing there (``--save`` writes the new
corrections elsewhere).

Run (on a finished or running experiment, with the config it saved; a second engine is
started, so mind the memory):
    python experiments/rerest_reflector_control.py runs/rerest-fishery --iteration 1
    python experiments/rerest_reflector_control.py runs/rerest-fishery --modes digits free \
        --save runs/reflector_control.jsonl
"""

import argparse
import asyncio
from functools import partial
from pathlib import Path

from govsim import scenarios
from govsim.cli import parse_overrides
from govsim.config import ConfigError
from govsim.llm.pool import LLMPool, make_llm, resolve_backend
from govsim.report import wilson
from govsim.rerest.config import load
from govsim.rerest.pipeline import load_decisions, opened
from govsim.rerest.reflect import reflect
from govsim.rerest.reply import Reader, token_counter
from govsim.rerest.sample import kinds
from govsim.rerest.stages import CONFIG_FILE, read_jsonl, write_jsonl
from govsim.rerest.texts import Texts


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the Re-ReST run's folder (its rerest_config.json is used)")
    parser.add_argument("--iteration", type=int, default=1, help="whose failed samples and reflector to use")
    parser.add_argument("--modes", nargs="+", default=["digits"], choices=["bounded", "digits", "free"])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. run.llm.backend=fake")
    parser.add_argument("--save", type=Path, help="write the new corrections (with their mode) to this JSONL")
    return parser.parse_args()


def line(name: str, rows: list[dict]) -> str:
    passed = sum(bool(r["passed"]) for r in rows)
    low, high = wilson(passed, len(rows))
    return f"{name:<24} {passed:>4}/{len(rows):<4} {passed / len(rows):6.1%}  [{low:.1%}, {high:.1%}]  {kinds(rows)}"


async def main() -> None:
    args = parse_args()
    out, i = args.out, args.iteration
    try:  # the folder given, wherever the run was made (out is where it runs, not what it computes)
        run = opened(load(out / CONFIG_FILE, {"out": str(out)}))  # where the run's stages put things (read only)
        config = load(out / CONFIG_FILE, parse_overrides(args.overrides))  # how to ask the reflector now
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not run.stages.done(f"i{i}.reflect"):
        raise SystemExit(f"error: {out} has no finished stage i{i}.reflect; run the experiment that far first")
    reflected = run.stages.result(f"i{i}.reflect")["reflector"]  # "base" or "reflector<j>"
    adapter = None if reflected == "base" else run.adapter_of("reflector", i - 1).adapter
    samples_dir = run.samples_of("rerest", i)
    sampled = samples_dir.name
    decisions, samples = load_decisions(samples_dir), read_jsonl(samples_dir / "samples.jsonl")

    template = config.run_config()
    texts = Texts(scenarios.load(template.scenario), config.templates)
    reader = Reader(template.llm.max_tokens, token_counter(resolve_backend(template.llm.backend), template.llm.model))
    pool = LLMPool(template.llm, factory=partial(make_llm, max_lora_rank=config.training.r))
    print(f"iteration {i}: {sum(not s['passed'] for s in samples)} failed samples of {sampled}, reflector {reflected}")
    print(line(f"run ({config.reflection.answer})", read_jsonl(out / f"iter{i}" / "reflections.jsonl")))
    saved = []
    try:
        llm = pool.get(template.llm, model=config.reflection.model)
        for mode in args.modes:
            spec = config.reflection.model_copy(update={"answer": mode})
            rows = await reflect(llm, decisions, samples, spec, adapter, texts, reader, progress=False)
            print(line(mode, rows))
            saved += [{**row, "mode": mode} for row in rows]
    finally:
        await pool.aclose()
    if args.save:
        write_jsonl(args.save, saved)


if __name__ == "__main__":
    asyncio.run(main())
