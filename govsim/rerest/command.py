"""``govsim rerest CONFIG``: what the command line does, kept out of ``govsim/cli.py``.

Bad input raises ``ConfigError`` (one line); the CLI turns it into exit code 2.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

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
    path = asyncio.run(run_experiment(config, restart=restart, progress=progress))
    return path.read_text()
