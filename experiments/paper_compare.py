"""The paper's default sweep for one model, printed beside the paper's published numbers.

Runs experiments/paper_default.yaml (3 scenarios x 5 seeds, five generative agents, 12
months) with the model given on the command line, then prints, per scenario, govsim's
metrics (mean and 95 % interval) above the paper's row for the same model
(govsim/published/; a row that is not transcribed says so). Finished cells are skipped
and interrupted ones resume, so running the command again only reports.

Run:
    python experiments/paper_compare.py meta-llama/Meta-Llama-3-8B-Instruct --backend vllm
    python experiments/paper_compare.py Llama-3-8B --agent conditional --months 2 --seeds 0
        (scripted agents, a couple of seconds: the pipeline without a model)

The model name is matched to the paper's labels as `govsim report --compare` does
(govsim/published/models.csv); --paper-model names the label when the name does not match.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

from govsim import report, sweep
from govsim.cli import parse_seeds
from govsim.config import ConfigError

SWEEP = Path(__file__).with_name("paper_default.yaml")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the model to run: a hub name, a folder, 'embedded', or any name with --agent")
    parser.add_argument("--paper-model", help="the paper's label to compare with (default: matched from MODEL)")
    parser.add_argument("--backend", default="auto", help="auto, vllm, transformers, openai or fake")
    parser.add_argument("--agent", default="generative", help="the agent type of every seat (scripted: no model)")
    parser.add_argument("--seeds", default="0-4", help="seeds per scenario, e.g. 0-4 or 0,3")
    parser.add_argument("--months", type=int, help="months per run (default: the paper's 12)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="cells go to OUT/paper_default/")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # 1. The comparison's model label, checked before anything runs.
    try:
        label = report.paper_label(args.paper_model or args.model)
    except ValueError as exc:
        sys.exit(f"error: {exc} (or give --paper-model)")

    # 2. The paper's default sweep with this model, these seeds and months.
    try:
        seeds = parse_seeds(args.seeds)
    except RuntimeError:  # typer.Exit, after the CLI's helper printed what was wrong
        sys.exit(2)
    spec = sweep.load(SWEEP)
    spec = dataclasses.replace(spec, grid=[{**grid, "seed": seeds} for grid in spec.grid])
    overrides = {"llm.model": args.model, "llm.backend": args.backend, "agent": args.agent}
    if args.months:
        overrides["months"] = args.months
    try:
        cells = sweep.expand(spec, args.out, overrides)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")

    # 3. Run the cells (all at once, sharing one engine), skipping finished ones.
    root = sweep.write_definition(spec, args.out)
    failed = [o for o in sweep.run_local(cells, max_cells=None, resume=True, progress=True) if "error" in o]
    for outcome in failed:
        print(f"cell {outcome['cell']} failed: {outcome['error']}", file=sys.stderr)

    # 4. The table of these cells beside the paper's rows.
    frame = report.runs_frame([cell.directory for cell in cells])
    for line in report.left_out(frame):
        print(line, file=sys.stderr)
    table = report.summary_table(frame)
    print(report.to_markdown(report.compare_table(table, label)))
    print(f"runs in {root}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
