"""What the browser tests share: the screenshot helper (experiments/screenshot_dashboard.py,
which starts and stops the dashboard) and the marks that skip them without a browser."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "screenshot_dashboard.py"
spec = importlib.util.spec_from_file_location("screenshot_dashboard", SCRIPT)
shots = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shots)

MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(shots.CHROMIUM).exists(),
                       reason=f"{shots.CHROMIUM} is missing (install Debian's chromium; `make test` does)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
]
