"""End to end: `govsim dashboard` serving the fixture runs, every page opened in headless
Chromium (Debian's /usr/bin/chromium driven by Playwright) at 1280 px, checked for its
content and screenshotted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from test_web_data import RUNS, fixture_root  # noqa: F401  (the shared fixture runs)

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "screenshot_dashboard.py"
spec = importlib.util.spec_from_file_location("screenshot_dashboard", SCRIPT)
shots = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shots)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(shots.CHROMIUM).exists(),
                       reason=f"{shots.CHROMIUM} is missing (install Debian's chromium; `make test` does)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
]

# (url path, plotly charts on screen, texts that must be visible); table cells are drawn
# on a canvas, so the checks use headings, captions and alerts.
PAGES = [
    ("", 0, [f"{RUNS} of {RUNS} runs under", "9 run(s) have damaged logs"]),
    ("run?run=llm/seed0", 4, ["Stock over the months", "Wanted and caught, per agent", "1 parse failure",
                              "generative"]),
    ("run?run=damaged/truncated", 4, ["damaged: showing what is valid", "the last line is truncated"]),
    ("compare", 2, ["Metrics per group (mean and 95 % interval)", "Survival (Kaplan–Meier)", "Distribution per group",
                    "runs are unfinished, stopped or damaged"]),
    ("network?run=llm/seed0", 1, ["Who addressed whom", "Agreed limits: month 1: 10, month 2: 10, month 3: 10"]),
    ("rerest", 6, ["Metrics over iterations", "sample pass rate"]),
    ("live?run=llm/seed0", 1, ["Latest utterances", "This run has finished."]),
]


def test_every_page_in_a_real_browser(fixture_root, tmp_path):
    with shots.serve(fixture_root) as url, shots.browser(tmp_path / "profile") as page:
        for path, charts, expected in PAGES:
            shots.open_page(page, f"{url}/{path}", expected[0], charts=charts)  # waits for the charts to draw
            for text in expected[1:]:  # Streamlit streams a page in: wait for each text, not only the first
                page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=60_000)
            body = page.inner_text("body")
            assert "Traceback" not in body and "could not be shown" not in body, path
            page.screenshot(path=str(tmp_path / f"{path.split('?')[0] or 'runs'}-{len(path)}.png"))

        # prompts and replies on demand, and the transcript, on the Run page
        shots.open_page(page, f"{url}/run?run=llm/seed0", "Stock over the months", charts=4)
        page.get_by_role("tab", name="Timeline").click()
        page.get_by_text("John here: let us keep to 10 tons each.").first.wait_for()
        page.get_by_role("tab", name="LLM calls").click()
        page.get_by_text("month 1 (harvest) · John · harvest · attempt 1").first.click()
        page.get_by_text("You are John").first.wait_for()
        page.screenshot(path=str(tmp_path / "run-llm-call.png"))
