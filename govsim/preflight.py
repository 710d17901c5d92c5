"""Checks made before any episode starts, so bad input is one line rather than a traceback mid-run.

Each raises ``ConfigError`` with the line for the user; ``govsim run`` and ``govsim sweep``
call them after resolving their configs and before anything is written.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from govsim.config import ConfigError, RunConfig
from govsim.scenarios import Scenario

# Files a process needs open besides its runs' event logs: Python's own, an LLM engine's
# sockets and pipes, and the short-lived ones of atomic writes.
FILE_HEADROOM = 64


def check_configs(configs: Iterable[RunConfig]) -> None:
    """Every config's scenario, network and agents, as the runner will build them.

    Each seat's params are parsed through its type's ``Params`` (``agents.params``); then its
    agent is built once with a stand-in model (no engine starts) and dropped: agents check
    the rest of their seat when built (the scenario's templates, the persona), and a
    ValueError, KeyError or TypeError there becomes a ConfigError naming the seat.
    Configs that differ only in their seed share one agent check; the network is built
    for each (a random graph depends on the seed).
    """
    from govsim import institutions, network, scenarios

    checked: set[str] = set()
    for config in configs:
        network.for_config(config)
        key = json.dumps({**config.dump(), "seed": None}, sort_keys=True)
        if key not in checked:
            checked.add(key)
            scenario = scenarios.load(config.scenario)
            try:
                institutions.check_scenario(config.institutions, scenario)  # the sentences the env will say
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            _check_agents(config, scenario)


def _check_agents(config: RunConfig, scenario: Scenario) -> None:
    import agents
    from agents.base import AgentContext, seat_params
    from govsim.llm.fake import FakeLLM

    stand_in = FakeLLM()
    for index, seat in enumerate(config.agents):
        cls = agents.get(seat.type)  # KeyError: an unknown type, with the known ones
        try:
            seat_params(cls, seat)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        ctx = AgentContext(
            seat=seat, config=config, scenario=scenario, rng=np.random.default_rng([config.seed, index]),
            emit=lambda event: None, llm=stand_in if cls.needs_llm else None,
        )
        if cls.needs_llm:
            _check_model(seat.model or config.llm.model, seat.name)
        try:
            cls(ctx)
        except (ValueError, KeyError, TypeError) as exc:
            detail = str(exc).strip("'\"")
            where = "" if detail.startswith(f"agent {seat.name}") else f"agent {seat.name} ({seat.type}): "
            raise ConfigError(f"{where}{detail}") from None


def check_out(root: Path, runs: Iterable[Path]) -> None:
    """The output directory exists or can be made, is writable, and no run's folder is a file."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root}: is a file; give a directory (it is made if missing)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {root}: cannot make it ({exc.strerror or exc}); give a directory you can write to") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {root}: not writable; give a directory you can write to")
    for run in runs:
        if run.exists() and not run.is_dir():
            raise ConfigError(f"--out {root}: {run} is a file, where a run's folder goes; move it or give another --out")


def ensure_open_files(runs: int, how: str) -> None:
    """Make room for ``runs`` event logs open at once, or say how to.

    Every run in progress holds its events file open. When the soft open-file limit is
    too low but the hard one is enough, the soft limit is raised (for this process only);
    otherwise one line says how many fit and how to fix it. ``how`` completes the
    sentence "... or <how>", e.g. "run fewer seeds at once".
    """
    try:
        import resource
    except ImportError:  # not POSIX: no limit to read
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = open_files() + runs + FILE_HEADROOM
    if soft == resource.RLIM_INFINITY or need <= soft:
        return
    if hard == resource.RLIM_INFINITY or need <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return
    fits = max(0, hard - open_files() - FILE_HEADROOM)
    raise ConfigError(
        f"{runs} runs at once need about {need} open files but the limit is {hard}, room for {fits} runs: "
        f"raise it (ulimit -n {need}) or {how}"
    )


def open_files() -> int:
    """Files this process has open now (0 where the system does not tell)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return 0


def too_many_open_files(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE)


def _check_model(model: str, seat: str) -> None:
    """A model given as a local path must exist (a hub name cannot be checked offline)."""
    if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
        raise ConfigError(
            f"agent {seat}: model {model} does not exist; give a model folder, a GGUF file, 'embedded' or a hub name"
        )
