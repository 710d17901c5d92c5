"""Benchmark: GovSim's LLM calls one at a time (as the reference makes them) vs batched.

The workload is the real thing, end to end: default fishery, generative agents (memory,
retrieval, MiniLM embeddings, importance ratings, harvest, conversation, summary,
reflection), ``--seeds`` episodes running concurrently in one process, every call
logged to a run directory. It is limited to ``--months 1`` by default because the
one-at-a-time mode must finish in minutes on a 2-core CPU: one month already holds every
kind of call an episode makes (a few hundred calls for 5 episodes), and later months
only repeat them.

Replies have a fixed length (``--max-tokens`` for free text, greedy sampling) so both
modes generate the same tokens; everything runs on one engine in one process, so the
ratios are fair even when other work shares the CPU (the absolute numbers are not).

Measured:
  sequential    the episodes with llm.max_concurrency=1
  batched       the same episodes, everything in flight at once
  raw engine    the batched run's prompts sent to the engine as one batch (the upper
                bound), with and without reading the prefix cache
  outside       wall time with no request in the engine (env, agents, embeddings, logs)

Run:
    python experiments/bench_inference.py                 # vLLM, 5 seeds, 1 month
    python experiments/bench_inference.py --quick         # a tiny smoke run
    govsim bench --backend transformers --seeds 2         # the same, from the CLI

The table is printed; the full report goes to ``<out>/bench.json``.
"""

import argparse
import asyncio
from pathlib import Path

from govsim.bench import BenchOptions, benchmark, print_report, write_report


def parse_args() -> argparse.Namespace:
    defaults = BenchOptions()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="episodes run concurrently")
    parser.add_argument("--months", type=int, default=defaults.months)
    parser.add_argument("--backend", choices=("vllm", "transformers", "fake"), default=defaults.backend)
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens, help="length of free-text replies")
    parser.add_argument("--quick", action="store_true", help="2 episodes of 2 agents, 8-token replies")
    parser.add_argument("--out", type=Path, default=defaults.out)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    common = dict(months=args.months, backend=args.backend, model=args.model, out=args.out)
    if args.quick:
        options = BenchOptions.quick(**common)
    else:
        options = BenchOptions(seeds=args.seeds, max_tokens=args.max_tokens, **common)

    report = asyncio.run(benchmark(options))

    print_report(report)
    print(f"report written to {write_report(report, args.out / 'bench.json')}")


if __name__ == "__main__":  # vLLM starts its engine with the spawn method
    main()
