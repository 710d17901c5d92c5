"""Sweeps: a grid of run configs, expanded into cells that run concurrently and resume.

A sweep file (YAML, see ``experiments/``) holds:

- ``name`` (optional; the file's stem otherwise): the sweep's folder under ``--out``;
- ``base``: a config mapping, or the path of a config file (relative to the sweep file);
- ``grid``: config keys (dotted ones too: ``llm.model``, ``regeneration.rule``) mapped to
  lists of values; the cells are their cartesian product, in file order. A list of such
  mappings is the union of their products. ``seed`` also takes a range, ``"0-4"``.

Each cell is one run (one seed) in ``<out>/<sweep name>/<cell id>/``. The id is readable
(the cell's grid values) plus a hash of everything that defines the cell (base, grid
values, ``--set`` overrides), so the same command finds the same folders again: finished
cells are skipped, interrupted ones resume at their last month checkpoint, and a
different override writes new cells beside the old ones instead of mixing them.

Cells run in this process through ``runner.run_episodes`` with one shared LLM pool, so an
engine batches the requests of every running cell (``max_cells`` bounds how many run at
once), or on a Ray cluster (``govsim.sweep_ray``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import agents as agent_registry
from govsim import network, runner, scenarios
from govsim.config import ConfigError, RunConfig, load_file, resolve
from govsim.runlog import EVENTS_FILE, SUMMARY_FILE, write_json_atomic

SWEEP_FILE = "sweep.json"  # the sweep's definition, beside its cells (read by ``govsim report``)
SWEEP_KEYS = {"name", "description", "base", "grid"}
# Grid keys the report's default grouping already covers (or that vary within a group).
REPORTED_KEYS = {"seed", "scenario", "experiment", "llm.model", "agent", "agents"}
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9.+=-]+")  # in a cell id ('_' separates its parts)


@dataclass(frozen=True)
class Sweep:
    name: str
    base: dict[str, Any]
    grid: list[dict[str, list[Any]]]  # sub-grids; the cells are the union of their products
    source: str | None = None

    @property
    def keys(self) -> list[str]:
        """Every grid key, in file order."""
        return list(dict.fromkeys(k for sub in self.grid for k in sub))

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "base": self.base, "grid": self.grid, "keys": self.keys}


@dataclass(frozen=True)
class Cell:
    id: str
    settings: dict[str, Any]  # this cell's grid values
    config: RunConfig
    directory: Path

    @property
    def status(self) -> str:
        """``done`` (has a summary), ``partial`` (started: will resume) or ``new``."""
        if (self.directory / SUMMARY_FILE).exists():
            return "done"
        return "partial" if (self.directory / EVENTS_FILE).exists() else "new"


# ---------------------------------------------------------------------------- loading


def load(path: str | Path) -> Sweep:
    """Read and check a sweep file; any problem is a one-line ``ConfigError``."""
    path = Path(path)
    data = load_file(path)
    unknown = sorted(set(data) - SWEEP_KEYS)
    if unknown:
        raise ConfigError(f"sweep {path}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(SWEEP_KEYS))}")
    name = str(data.get("name") or path.stem)
    if not _NAME.fullmatch(name) or name.startswith("."):
        raise ConfigError(f"sweep {path}: name {name!r} must be letters, digits, '.', '-', '_' only")
    base = data.get("base") or {}
    if isinstance(base, str):
        base = load_file(path.parent / base)
    if not isinstance(base, dict):
        raise ConfigError(f"sweep {path}: base must be a config mapping or the path of a config file")
    grid = data.get("grid") or {}
    subs = grid if isinstance(grid, list) else [grid]
    return Sweep(name, base, [_check_grid(path, sub) for sub in subs], str(path))


def _check_grid(path: Path, grid: Any) -> dict[str, list[Any]]:
    if not isinstance(grid, dict):
        raise ConfigError(f"sweep {path}: grid must map config keys to lists of values (or be a list of such maps)")
    checked = {}
    for key, values in grid.items():
        if key == "seed" and isinstance(values, (str, int)):
            values = _seed_range(path, values)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep {path}: grid.{key} must be a non-empty list, e.g. {key}: [a, b]")
        checked[str(key)] = values
    return checked


def _seed_range(path: Path, text: str | int) -> list[int]:
    low, _, high = str(text).partition("-")
    try:
        return list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ConfigError(f"sweep {path}: grid.seed {text!r}: use a list or a range like 0-4") from None


# ---------------------------------------------------------------------------- cells


def expand(sweep: Sweep, out: str | Path, overrides: dict[str, Any] | None = None) -> list[Cell]:
    """Every cell of the sweep, validated (config, agent types, network), in grid order."""
    overrides = dict(overrides or {})
    root = Path(out) / sweep.name
    cells: dict[str, Cell] = {}
    checked_types: set[str] = set()
    for sub in sweep.grid or [{}]:
        for values in itertools.product(*sub.values()):
            settings = dict(zip(sub, values))
            config = _resolve_cell(sweep, settings, overrides, checked_types)
            cell_id = cell_name(settings, {"base": sweep.base, "settings": settings, "overrides": overrides})
            cells.setdefault(cell_id, Cell(cell_id, settings, config, root / cell_id))
    return list(cells.values())


def _resolve_cell(sweep: Sweep, settings: dict[str, Any], overrides: dict[str, Any], checked_types: set[str]) -> RunConfig:
    where = ",".join(f"{k}={_short(v)}" for k, v in settings.items()) or "(no grid)"
    try:
        base, shorthand = dict(sweep.base), {}
        if isinstance(base.get("agents"), str):  # "greedy,conditional*4": the --agents shorthand
            shorthand["agents"] = base.pop("agents")
        config = resolve(base.get("experiment", "default"), base, {**shorthand, **settings, **overrides})
        scenarios.load(config.scenario)
        for seat in config.agents:
            if seat.type not in checked_types:  # the registry scans entry points: once per type
                agent_registry.get(seat.type)
                checked_types.add(seat.type)
        network.for_config(config)
    except (ConfigError, scenarios.ScenarioError, KeyError) as exc:
        message = str(exc).strip("'\"")  # a KeyError's message comes quoted
        raise ConfigError(f"sweep {sweep.name}, cell {where}: {message}") from None
    return config


def cell_name(settings: dict[str, Any], identity: dict[str, Any]) -> str:
    """``scenario-fishery_seed-0_1a2b3c4d``: the grid values, then a hash of the cell's identity."""
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    parts = [f"{key.rsplit('.', 1)[-1]}-{_short(value)}" for key, value in settings.items()]
    return "_".join([*parts, digest])


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return _UNSAFE.sub("-", text).strip("-")[:32] or "x"


def select_shard(cells: list[Cell], spec: str) -> list[Cell]:
    """Cells ``i, i+n, i+2n, ...`` for ``spec = "i/n"`` (0 <= i < n): a deterministic slice."""
    index, _, count = spec.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ConfigError(f"--shard {spec!r}: use i/n, e.g. 0/4 for the first of four shards") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {spec!r}: need n >= 1 and 0 <= i < n")
    return cells[i::n]


def describe(cells: list[Cell]) -> str:
    """The dry-run listing: one line per cell (status, id, grid values), then a count."""
    lines = [f"{c.status:8} {c.id}  {json.dumps(c.settings, default=str)}" for c in cells]
    counts = {s: sum(c.status == s for c in cells) for s in ("done", "partial", "new")}
    root = cells[0].directory.parent if cells else "-"
    lines.append(
        f"{len(cells)} cells in {root}: {counts['done']} done, {counts['partial']} to resume, {counts['new']} new"
    )
    return "\n".join(lines)


def write_definition(sweep: Sweep, out: str | Path) -> Path:
    root = Path(out) / sweep.name
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / SWEEP_FILE, sweep.definition())
    return root


def group_keys(dirs: list[str | Path]) -> list[str]:
    """Grid keys of the sweeps under ``dirs`` that a report should group by, beyond its defaults."""
    keys: list[str] = []
    for d in dirs:
        for found in [Path(d) / SWEEP_FILE, *Path(d).glob(f"*/{SWEEP_FILE}")]:
            try:
                keys += json.loads(found.read_text()).get("keys", [])
            except (OSError, json.JSONDecodeError, AttributeError):
                continue
    return [k for k in dict.fromkeys(keys) if k not in REPORTED_KEYS]


# ---------------------------------------------------------------------------- running


async def run_cells(
    cells: list[Cell],
    max_cells: int | None = None,
    resume: bool = True,
    on_month: runner.MonthCallback | None = None,
) -> list[dict[str, Any]]:
    """Run cells in this process, at most ``max_cells`` at once, all sharing one LLM pool.

    A cell that raises is reported in its outcome (``error``) while the others go on.
    """
    jobs = iter(cells)
    outcomes: dict[str, dict[str, Any]] = {}
    async with runner.llm_pool([c.config for c in cells]) as pool:

        async def worker() -> None:
            for cell in jobs:  # the workers share one iterator: each takes the next cell
                try:
                    (result,) = await runner.run_episodes(
                        [(cell.config, cell.directory)], resume=resume, pool=pool, on_month=on_month
                    )
                    outcomes[cell.id] = outcome(cell, result.skipped)
                except Exception as exc:
                    outcomes[cell.id] = {**outcome(cell, False), "error": f"{type(exc).__name__}: {exc}"[:500]}

        await asyncio.gather(*(worker() for _ in range(min(max_cells or len(cells), len(cells)))))
    return [outcomes[c.id] for c in cells]


def run_local(cells: list[Cell], max_cells: int | None, resume: bool, progress: bool) -> list[dict[str, Any]]:
    """Run cells in-process with a progress bar over months; one outcome per cell."""
    todo = [c for c in cells if c.status != "done" or not resume]
    bar, on_month = runner.progress_bar(sum(c.config.months for c in todo), enabled=progress)
    with bar:
        return asyncio.run(run_cells(cells, max_cells, resume, on_month))


def outcome(cell: Cell, skipped: bool) -> dict[str, Any]:
    """What became of a cell: ``skipped`` when it had finished before; ``error`` if it failed."""
    return {"cell": cell.id, "directory": str(cell.directory), "skipped": skipped}

