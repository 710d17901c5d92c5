"""The ``govsim`` command line: run episodes and report on them.

Bad input (an unknown key, a bad value, a missing or unreadable file, an output folder
that cannot be written) exits with code 2 and one line saying what was wrong and how to
fix it; ``govsim.preflight`` checks what it can before any episode starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import typer

from govsim.config import ConfigError, RunConfig, check_seed, load_file, parse_value, resolve
from govsim.scenarios import ScenarioError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(2)


MAX_SEEDS = 100_000  # seeds one command runs at once; a sweep runs more, a few at a time


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"1,3,7"`` -> [1, 3, 7]."""
    ranges: list[range] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            ranges.append(range(int(low), int(high) + 1) if high else range(int(low), int(low) + 1))
    except ValueError:
        fail(f"--seeds {text!r}: use a range like 0-4 or a list like 1,3,7")
    if sum(max(0, r.stop - r.start) for r in ranges) > MAX_SEEDS:
        fail(f"--seeds {text!r}: at most {MAX_SEEDS} seeds at once; run more through govsim sweep")
    seeds = [s for r in ranges for s in r]
    if not seeds:
        fail(f"--seeds {text!r}: give at least one seed, e.g. 0-4 (a range runs low to high)")
    twice = sorted(s for s, n in Counter(seeds).items() if n > 1)
    if twice:
        fail(f"--seeds {text!r}: seed {twice[0]} is given twice; each seed runs once")
    for s in (min(seeds), max(seeds)):
        check_one_seed(s, "--seeds")
    return seeds


def check_one_seed(seed: int, option: str) -> None:
    try:
        check_seed(seed)
    except ValueError as exc:
        fail(f"{option} {seed}: {exc}")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--set {pair!r}: use KEY=VALUE, e.g. --set llm.temperature=0 or --set regeneration.rule=logistic")
        overrides[key.strip()] = parse_value(value)
    return overrides


def default_out(config: RunConfig) -> Path:
    """runs/<scenario>-<experiment>-<hash of the config without its seed>/seed<N>.

    The same command gives the same directory, so running it again resumes.
    """
    data = config.dump()
    data.pop("seed")
    digest = hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]
    return Path("runs") / f"{config.scenario}-{config.experiment}-{digest}"


@app.command()
def run(
    config_file: Path | None = typer.Option(None, "--config", "-c", help="A YAML config file."),
    scenario: str | None = typer.Option(None, help="fishery, pasture, pollution, or a scenario .yaml file."),
    experiment: str | None = typer.Option(None, help="default, universalization, no_communication, greedy_newcomer."),
    agents: str | None = typer.Option(None, help="Seat types, e.g. 'generative*5' or 'greedy,sustainable*4'."),
    seed: int | None = typer.Option(None, help="One seed."),
    seeds: str | None = typer.Option(None, help="Several seeds run concurrently, e.g. 0-4 or 1,3,7."),
    months: int | None = typer.Option(None, help="Months to run (default 12; newcomer 15)."),
    backend: str | None = typer.Option(None, help="LLM backend: auto, vllm, transformers, openai, fake."),
    model: str | None = typer.Option(None, help="'embedded', a model folder, a GGUF file or a hub name."),
    max_concurrency: int | None = typer.Option(None, help="Most LLM requests in flight (1 = one at a time)."),
    out: Path | None = typer.Option(None, help="Output directory (one seed<N> folder per seed inside)."),
    set_: list[str] = typer.Option([], "--set", help="Any config override KEY=VALUE (repeatable)."),
    restart: bool = typer.Option(False, help="Start over instead of resuming an unfinished run."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run episodes and print their metrics."""
    from agents.human import SeatLeft
    from govsim import preflight, runner

    overrides = parse_overrides(set_)
    for key, value in {
        "scenario": scenario, "experiment": experiment, "agents": agents, "months": months,
        "llm.backend": backend, "llm.model": model, "llm.max_concurrency": max_concurrency,
    }.items():
        if value is not None:
            if key in overrides:
                fail(f"--set {key}=... and the option for {key} both give it; keep one")
            overrides[key] = value
    if seed is not None and seeds is not None:
        fail("give --seed or --seeds, not both")
    if seed is not None:
        check_one_seed(seed, "--seed")
    seed_list = parse_seeds(seeds) if seeds else None
    try:
        file = load_file(config_file) if config_file else {}
        base = resolve(overrides.get("experiment", file.get("experiment", "default")), file, overrides)
        seed_list = seed_list or [seed if seed is not None else base.seed]
        configs = [base.model_copy(update={"seed": s}) for s in seed_list]
        preflight.check_configs(configs)  # unknown agent types, bad params, templates, networks: before anything runs
        root = out or default_out(base)
        jobs = [(cfg, root / f"seed{cfg.seed}") for cfg in configs]
        preflight.check_out(root, [d for _, d in jobs])
        preflight.ensure_open_files(len(jobs), "run fewer seeds at once, or run them through govsim sweep --max-cells N")
    except (ConfigError, ScenarioError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    try:
        bar, on_month = runner.progress_bar(sum(c.months for c in configs), enabled=progress)
        with bar:
            results = asyncio.run(runner.run_episodes(jobs, resume=not restart, on_month=on_month))
    except OSError as exc:
        fail(_os_problem(exc, "run fewer seeds at once"))
    except SeatLeft as exc:  # a person left the human seat (agents/human.py)
        typer.echo(f"{exc}: the run is unfinished; run the same command again to resume it from that month's start",
                   err=True)
        raise typer.Exit(1) from None
    for result in results:
        if result.skipped:
            typer.echo(f"{result.directory}: already finished (use --restart to run it again)")
    _print_table([str(r.directory) for r in results])
    typer.echo(f"runs written to {root}")
    failed = [r for r in results if r.summary.get("valid") is False]
    for result in failed:
        typer.echo(f"error: {result.directory}: run stopped and marked invalid: {result.summary['invalid_reason']}", err=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def report(
    dirs: list[Path] = typer.Argument(..., help="Run or sweep directories."),
    fmt: str = typer.Option("markdown", "--format", help="markdown or csv."),
    by: str | None = typer.Option(
        None, help="Comma-separated grouping keys, config keys too (default: scenario,experiment,model_id,agents,institutions "
        "and a sweep's grid keys)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the table as CSV to this file."),
    km: Path | None = typer.Option(None, "--km", help="Write Kaplan-Meier survival curves per group (CSV)."),
    compare: str | None = typer.Option(
        None, "--compare", help="Show each group beside the paper's published row of this model (a paper label or "
        "model name, e.g. Llama-3-8B or meta-llama/Meta-Llama-3-8B-Instruct; govsim/published/)."
    ),
) -> None:
    """The metrics table over runs: mean and 95 % interval per group."""
    from govsim.report import REPORT_KEYS, compare_table, km_curves, left_out, runs_frame, summary_table, to_markdown
    from govsim.sweep import group_keys

    if fmt not in ("markdown", "csv"):
        fail(f"--format {fmt!r}: use markdown or csv")
    missing = [str(d) for d in dirs if not d.exists()]
    if missing:
        fail(f"no such directory: {', '.join(missing)}")
    keys = by.split(",") if by else [*REPORT_KEYS, *group_keys(dirs)]
    frame = runs_frame(dirs, keys=keys)
    if frame.empty:
        fail(f"no runs found under {', '.join(map(str, dirs))} (a run directory holds events.jsonl)")
    table = summary_table(frame, by=keys)
    shown = table
    if compare:
        try:
            shown = compare_table(table, compare)
        except ValueError as exc:
            fail(f"--compare: {exc}")
    text = to_markdown(shown) if fmt == "markdown" else shown.to_csv(index=False)
    if csv:
        table.to_csv(csv, index=False)
    if km:
        km_curves(frame, by=keys).to_csv(km, index=False)
    if output:
        output.write_text(text + "\n")
    else:
        typer.echo(text)
    for line in left_out(frame):
        typer.echo(line, err=True)


@app.command()
def sweep(
    file: Path = typer.Argument(..., help="A sweep file (see experiments/)."),
    out: Path = typer.Option(Path("runs"), help="Cells go to OUT/<sweep name>/<cell id>/."),
    set_: list[str] = typer.Option([], "--set", help="Override KEY=VALUE in every cell, e.g. agent=conditional."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the cells and their status; run nothing."),
    shard: str | None = typer.Option(None, help="Run only slice i/n of the cells (0 <= i < n), e.g. 0/4."),
    max_cells: int | None = typer.Option(None, help="Most cells running at once (default: all)."),
    executor: str = typer.Option("local", help="local (this process, one shared LLM pool) or ray."),
    address: str | None = typer.Option(None, help="Ray cluster address (default: start a local one)."),
    ray_num_cpus: float = typer.Option(1.0, help="CPUs each Ray task asks for."),
    ray_num_gpus: float | None = typer.Option(
        None, help="GPUs each Ray task asks for (default: 1 for a local model on a GPU cluster)."),
    ray_batch: int = typer.Option(1, help="Cells per Ray task; they share its engine."),
    restart: bool = typer.Option(False, help="Start every cell over instead of skipping or resuming."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run a sweep: every cell of a grid of configs, concurrently; resumable."""
    from govsim import preflight
    from govsim import sweep as sweeps

    if executor not in ("local", "ray"):
        fail(f"--executor {executor!r}: use local or ray")
    if (max_cells is not None and max_cells < 1) or ray_batch < 1 or ray_num_cpus < 0 or (ray_num_gpus or 0) < 0:
        fail("--max-cells and --ray-batch must be >= 1, --ray-num-cpus and --ray-num-gpus >= 0")
    try:
        spec = sweeps.load(file)
        cells = sweeps.expand(spec, out, parse_overrides(set_))
        cells = sweeps.select_shard(cells, shard) if shard else cells
        preflight.check_configs(c.config for c in cells)
    except (ConfigError, ScenarioError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    typer.echo(sweeps.describe(cells))
    if dry_run or not cells:
        return
    try:
        preflight.check_out(out, [c.directory for c in cells])
        if executor == "local":
            todo = sum(c.status != "done" or restart for c in cells)
            preflight.ensure_open_files(min(max_cells or todo, todo), "give --max-cells a smaller N")
    except ConfigError as exc:
        fail(str(exc))
    root = sweeps.write_definition(spec, out)
    if executor == "ray":
        from govsim.sweep_ray import run_ray

        try:
            outcomes = run_ray(cells, address, ray_num_cpus, ray_num_gpus, ray_batch, not restart, progress)
        except ConfigError as exc:  # e.g. a cluster that refuses a driver without its token
            fail(str(exc))
    else:
        outcomes = sweeps.run_local(cells, max_cells, not restart, progress)
    failed = [o for o in outcomes if "error" in o]
    for o in failed:
        typer.secho(f"cell {o['cell']} failed: {o['error']}", err=True, fg="red")
    skipped = sum(o["skipped"] for o in outcomes)
    typer.echo(f"{len(outcomes) - skipped - len(failed)} cells run, {skipped} already finished, {len(failed)} failed")
    typer.echo(f"report: govsim report {root}")
    if failed:
        raise typer.Exit(1)


@app.command()
def dashboard(
    root: Path = typer.Argument(Path("runs"), help="The folder of runs to show (searched recursively)."),
    port: int = typer.Option(8501, help="Local port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 serves other machines too."),
) -> None:
    """Open the web dashboard (Streamlit) over a folder of runs."""
    import importlib.util
    import os

    if importlib.util.find_spec("streamlit") is None:
        fail("the dashboard needs streamlit: pip install -e '.[web]'")
    if not root.is_dir():
        fail(f"no such directory: {root} (give the folder your runs were written to, e.g. runs/)")
    import web

    app_file = Path(list(web.__path__)[0]) / "app.py"  # __path__: also right for an editable namespace install
    command = [
        sys.executable, "-m", "streamlit", "run", str(app_file), "--server.port", str(port), "--server.address", host,
        "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
        "--", "--root", str(root.resolve()),
    ]
    typer.echo(f"dashboard over {root} at http://{host}:{port} (Ctrl+C stops it)")
    sys.stdout.flush()
    # Become the server rather than wait on it, so stopping this process stops Streamlit too.
    os.execve(sys.executable, command, {**os.environ, "GOVSIM_RUNS": str(root.resolve())})


@app.command()
def rerest(
    config_file: Path = typer.Argument(..., help="A Re-ReST config, e.g. experiments/rerest_fishery.yaml."),
    out: Path | None = typer.Option(None, help="Output directory (default: the config's out)."),
    set_: list[str] = typer.Option([], "--set", help="Override KEY=VALUE, e.g. sampling.k=8 (repeatable)."),
    restart: bool = typer.Option(False, help="Start over instead of resuming at the unfinished stage."),
    progress: bool = typer.Option(True, help="Show progress bars."),
    report: bool = typer.Option(False, help="Only write and print the summary of the stages finished so far (runs nothing)."),
) -> None:
    """Re-ReST self-training: sample, score, reflect, train LoRA adapters, evaluate them (resumable)."""
    from govsim.rerest.command import rerest as run_rerest
    from govsim.rerest.evaluate import EpisodesFailed

    if report and restart:
        fail("--report reads the finished stages and --restart clears them; use one")
    try:
        typer.echo(run_rerest(config_file, parse_overrides(set_), out, restart, progress, report_only=report))
    except ConfigError as exc:
        fail(str(exc))
    except EpisodesFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def subskills(
    model: str | None = typer.Option(None, help="'embedded', a model folder, a GGUF file or a hub name."),
    backend: str | None = typer.Option(None, help="LLM backend: auto, vllm, transformers, openai, fake."),
    adapter: Path | None = typer.Option(
        None, help="A LoRA adapter folder to ask instead of the bare model (e.g. a Re-ReST run's iter1/adapters/rerest)."),
    items: int = typer.Option(150, help="Items per test and scenario (the reference's 150)."),
    seed: int = typer.Option(0, help="Seed of the items (same seed, same items)."),
    scenario: str = typer.Option("fishery", help="Comma-separated scenarios, or 'all'."),
    tests: str = typer.Option("all", "--tests", help="Comma-separated tests (see govsim/subskills.yaml), or 'all' (the eight)."),
    temperature: float = typer.Option(0.0, help="Sampling temperature (the reference: 0, greedy)."),
    max_tokens: int = typer.Option(400, help="Most tokens per reply (room to think step by step; the reference allows 8000)."),
    constrain: bool = typer.Option(False, help="Force the reply to be just 'Answer: N' (backends with constraints)."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the accuracy table as CSV."),
    details: Path | None = typer.Option(
        None, help="Write every item (prompt, reply, parsed, correct answer, passed) as JSON lines."),
) -> None:
    """The paper's eight subskill tests: accuracy per test (95 % Wilson CI) and parse failures."""
    from pydantic import ValidationError

    from govsim import scenarios as scenario_files
    from govsim import subskills as subskill_tests
    from govsim.config import LLMConfig, describe_error
    from govsim.llm.base import LLMError

    if items < 1:
        fail("--items must be >= 1, e.g. --items 150")
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        fail(f"--adapter {adapter}: not a LoRA adapter folder (it has no adapter_config.json)")
    names = scenario_files.available() if scenario == "all" else [s.strip() for s in scenario.split(",") if s.strip()]
    chosen = None if tests == "all" else [t.strip() for t in tests.split(",") if t.strip()]
    settings = {"temperature": temperature, "max_tokens": max_tokens}
    given = {"model": model, "backend": backend, "adapter": adapter and str(adapter)}
    settings.update({k: v for k, v in given.items() if v is not None})
    try:
        llm_config = LLMConfig.model_validate(settings)
        records = asyncio.run(
            subskill_tests.run(llm_config, names, items=items, seed=seed, constrain=constrain, tests=chosen)
        )
    except ValidationError as exc:
        fail(describe_error(exc, LLMConfig).replace("config: ", "llm: ", 1))
    except (ConfigError, ScenarioError, LLMError) as exc:
        fail(str(exc))
    table = subskill_tests.accuracy_table(records)
    typer.echo(subskill_tests.to_markdown(table))
    if csv:
        table.to_csv(csv, index=False)
    if details:
        details.write_text("".join(json.dumps(r) + "\n" for r in records))


@app.command()
def bench(
    seeds: int = typer.Option(5, help="Episodes run concurrently."),
    months: int = typer.Option(1, help="Months per episode."),
    backend: str = typer.Option("vllm", help="vllm, transformers or fake."),
    model: str = typer.Option("embedded", help="'embedded', a model folder or a hub name."),
    max_tokens: int = typer.Option(64, help="The fixed length of every free-text reply."),
    quick: bool = typer.Option(False, help="A tiny smoke run (2 episodes of 2 agents, 8-token replies)."),
    out: Path = typer.Option(Path("runs/bench"), help="Run logs and bench.json go here."),
) -> None:
    """Inference benchmark: one request at a time vs batched vs the raw engine (see govsim/bench.py)."""
    from govsim import bench as b

    common = dict(months=months, backend=backend, model=model, out=out)
    options = b.BenchOptions.quick(**common) if quick else b.BenchOptions(seeds=seeds, max_tokens=max_tokens, **common)
    report = asyncio.run(b.benchmark(options))
    b.print_report(report)
    typer.echo(f"report written to {b.write_report(report, out / 'bench.json')}")


@app.command()
def schema() -> None:
    """Print the run log's event schema: every event type, its required and optional fields."""
    from govsim.events import FORMAT_VERSION, describe

    typer.echo(f"run-log format {FORMAT_VERSION} (govsim/events.py)\n")
    typer.echo(describe())


def _os_problem(exc: OSError, fewer: str) -> str:
    """One line for a file-system failure during runs (what was finished is kept: the command resumes)."""
    from govsim.preflight import too_many_open_files

    where = f"{exc.filename}: " if exc.filename else ""
    if too_many_open_files(exc):
        return f"{where}too many open files: raise the limit (ulimit -n) or {fewer}; run again to resume"
    return f"{where}{exc.strerror or exc}; fix it and run again to resume"


def _print_table(dirs: list[str]) -> None:
    from govsim.report import runs_frame, summary_table, to_markdown

    table = summary_table(runs_frame(dirs))
    typer.echo(to_markdown(table))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted: run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
