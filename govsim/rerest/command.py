"""``govsim rerest CONFIG``: what the command line does, kept out of ``govsim/cli.py``.

Bad input raises ``ConfigError`` (one line); the CLI turns it into exit code 2. SIGTERM
(``kill``, ``timeout``, a batch scheduler) stops a run as Ctrl-C does: a training under way
saves its step first. That also stops a run started in the background by a shell without
job control, which ignores Ctrl-C's SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from govsim.config import ConfigError
from govsim.rerest.config import load
from govsim.rerest.pipeline import report, run_experiment
from govsim.rerest.texts import load_templates
from govsim.scenarios import ScenarioError
from govsim.templating import TemplateError


def rerest(
    config_file: Path, overrides: dict[str, Any], out: Path | None, restart: bool, progress: bool, report_only: bool = False
) -> str:
    """Run or resume the experiment (or, ``report_only``, summarize what is done); returns the summary markdown."""
    try:
        config = load(config_file, overrides)
        if out is not None:
            config = config.model_copy(update={"out": str(out)})
        load_templates(config.templates)  # a bad templates file fails here, before anything runs
    except (TemplateError, ScenarioError) as exc:
        raise ConfigError(str(exc)) from None
    if report_only:
        return report(config).read_text()
    path = run_stoppable(run_experiment(config, restart=restart, progress=progress))
    return path.read_text()


T = TypeVar("T")


def run_stoppable(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``, with SIGTERM cancelling it as Ctrl-C does (raised as KeyboardInterrupt)."""

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await work
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:  # by SIGTERM (Ctrl-C's comes out of asyncio.run as KeyboardInterrupt)
        raise KeyboardInterrupt from None
