"""Checkpoints of a Re-ReST run: ``stages.json`` in the output directory.

Each stage (``i1.sample.base``, ``i1.train.rerest``, ...) is recorded as done, with its
wall time and a small JSON result, only after its artefacts were written; artefacts are
written atomically (a temporary name, then a rename). A killed run therefore restarts
the stage it was in and skips the ones before. Stages that run episodes go further: the
runner resumes each episode from its last month.

The config the directory was made with is kept in ``rerest_config.json``; resuming with a
different one is refused (one line), since its finished stages would not match. Both are
compared after ``normalize`` (e.g. re-validation, which fills in keys added to the config
model since with their defaults). Opened ``read_only`` (by reports and control scripts),
its stages and config are only read: the config is checked but not written, and no stage
may run. ``how`` is added to every stage this process records: the execution settings
it ran under that may change on resume and change what a stage answers (e.g.
``merge_adapters``: whether adapters were served merged into the weights or as LoRA).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from govsim.config import ConfigError
from govsim.rerest import results
from govsim.runlog import write_json_atomic

STAGES_FILE = "stages.json"
CONFIG_FILE = "rerest_config.json"


class Stages:
    def __init__(
        self, out: str | Path, config: dict[str, Any], restart: bool = False,
        normalize: Callable[[dict[str, Any]], Any] = lambda data: data, read_only: bool = False,
        how: dict[str, Any] | None = None,
    ) -> None:
        self.out = Path(out)
        self.how = dict(how or {})
        self.read_only = read_only
        if restart and read_only:
            raise ValueError("a Re-ReST run opened read-only cannot be restarted")
        if restart:
            clear(self.out)
        saved = self.out / CONFIG_FILE
        if saved.exists() and not _same(json.loads(saved.read_text()), config, normalize):
            raise ConfigError(
                f"{self.out} holds a Re-ReST run made with another config; use --restart or another output directory"
            )
        if not read_only:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json_atomic(saved, config)
        path = self.out / STAGES_FILE
        self.record: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def done(self, name: str) -> bool:
        return name in self.record

    def result(self, name: str) -> Any:
        return self.record[name]["result"]

    async def run(self, name: str, fn: Callable[[], Any | Awaitable[Any]]) -> Any:
        """Run ``fn`` unless the stage is done; record its (JSON-able) result and time."""
        if self.done(name):
            return self.result(name)
        if self.read_only:
            raise RuntimeError(f"stage {name} is not done and {self.out} was opened read-only")
        started = time.perf_counter()
        result = fn()
        if inspect.isawaitable(result):
            result = await result
        entry = {"result": result, "wall_s": round(time.perf_counter() - started, 1), "at": time.time(), **self.how}
        # kept as a resumed run reads it back (sorted keys), so both give the same summary
        self.record[name] = json.loads(json.dumps(entry, sort_keys=True))
        write_json_atomic(self.out / STAGES_FILE, self.record)
        return self.record[name]["result"]

    def wall_s(self, prefix: str = "") -> float:
        return round(sum(r["wall_s"] for n, r in self.record.items() if n.startswith(prefix)), 1)


def clear(out: Path) -> None:
    """Remove what a Re-ReST run writes (and nothing else) from ``out``."""
    if not out.exists():
        return
    written = (STAGES_FILE, CONFIG_FILE, "fixed", "subskills", "transfer", "eval_base", *results.FILES)
    for entry in out.iterdir():
        if entry.name in written or entry.name.startswith("iter"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _same(saved: dict[str, Any], config: dict[str, Any], normalize: Callable[[dict[str, Any]], Any]) -> bool:
    try:
        return _plain(normalize(saved)) == _plain(normalize(_plain(config)))
    except ValueError:  # the saved config is not valid any more
        return False


def _plain(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))
