"""End to end: `govsim dashboard` serving the fixture runs (made by the runner: scripted
agents, and generative agents on the fake backend), every page and every Run tab opened
in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) at 1280 px and at
800 px, checked for its content and screenshotted.

Screenshots go to $GOVSIM_SCREENSHOTS (default: a pytest temporary folder; the path is
printed), with ``timings.txt``: how long a 12-month run's Run page takes once the first
load has warmed the caches (printed too; measured, never asserted: the machine is shared).
Run with ``-s`` to see the prints.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from chromium import MARKS, shots  # noqa: E402  (the shared screenshot helper)
from web_runs import LONG_MONTHS, RUNS

pytestmark = MARKS

# (url path, plotly charts on screen, texts that must be visible); table cells are drawn
# on a canvas, so the checks use headings, captions, alerts and expander labels.
PAGES = [
    ("", 0, [f"{RUNS} of {RUNS} runs under", "9 run(s) have damaged logs"]),
    ("run?run=damaged/truncated", 4, ["damaged: showing what is valid", "the last line is truncated"]),
    ("compare", 4, ["Metrics per group (mean and 95 % interval)", "Stock and catch per month", "Survival (Kaplan–Meier)",
                    "Distribution per group", "runs are unfinished, stopped or damaged"]),
    ("network?run=llm/seed0", 1, ["Who addressed whom", "Agreed limits: month 1: 10, month 2: 10, month 3: 10"]),
    ("rerest", 6, ["Metrics over iterations", "sample pass rate", "Losses per epoch"]),
    ("live?run=llm/seed0", 1, ["Latest utterances", "This run has finished."]),
    ("play", 0, ["Play"]),
]
RUN = "llm/seed0"
TABS = [  # (tab, charts, texts)
    ("Charts", 4, ["Stock over the months", "Wanted and caught, per agent", "1 parse failure", "generative"]),
    ("Timeline", 0, ["Month 1", "Town hall", "2 issues this month: 1 parse failure, 1 fallback",
                     "John here: let us keep to 10 tons each."]),
    ("Agents", 0, ["Month by month", "Memories and insights", "Calls by purpose"]),
    ("LLM calls", 0, ["call(s),", "completion tokens"]),
    ("Issues", 0, ["Counted by kind and what they were about", "Every one (4)"]),
    ("Config", 0, ["meta.json"]),
]
SETTLED = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
# a call's expander label: seq, month, phase, the agent (in the LLM calls tab), purpose, attempt
CALL_LABEL = re.compile(r"#(\d+) · month (\d+) \((\w+)\) · (?:(\w+) · )?(\w+) · attempt (\d+)")


def log_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("GOVSIM_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def site(fixture_root, tmp_path_factory):
    """The dashboard on the fixture runs and one browser page, shared by this module's tests."""
    with shots.serve(fixture_root) as url, shots.browser(tmp_path_factory.mktemp("profile")) as page:
        yield url, page
        page.set_viewport_size(shots.VIEWPORT)


def settle(page, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(SETTLED, timeout=timeout_ms)


def expect(page, texts: list[str]) -> None:
    for text in texts:  # Streamlit streams a page in: wait for each text, not only the first
        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=60_000)
    body = page.inner_text("body")
    assert "Traceback" not in body and "could not be shown" not in body, texts


def open_box(page, label: str, then: str) -> None:
    """Open an expander by (part of) its label and wait for ``then`` inside it."""
    page.locator('[data-testid="stExpander"] summary', has_text=label).first.click()
    page.get_by_text(then, exact=False).first.wait_for(state="visible", timeout=60_000)
    settle(page)


CALLS_SHOWN = """n => Array.from(document.querySelectorAll('[data-testid="stExpander"] summary'))
  .filter(s => /#\\d+ · month/.test(s.innerText)).length == n"""


def call_labels(page, expected: int) -> list[tuple]:
    """The LLM calls listed on the page, as their expanders label them, once ``expected`` are there."""
    page.wait_for_function(CALLS_SHOWN, arg=expected, timeout=60_000)
    found = []
    for text in page.locator('[data-testid="stExpander"] summary').all_inner_texts():
        match = CALL_LABEL.search(text)
        if match:
            seq, month, phase, agent, purpose, attempt = match.groups()
            found.append((int(seq), int(month), phase, agent, purpose, int(attempt)))
    return found


def as_logged(call: dict, agent: bool = True) -> tuple:
    return call["seq"], call["month"], call["phase"], call["agent"] if agent else None, call["purpose"], call["attempt"]


def test_every_page_and_every_run_tab(site, shot_dir):
    url, page = site
    for path, charts, texts in PAGES:
        shots.open_page(page, f"{url}/{path}", texts[0], charts=charts)  # waits for the charts to draw
        expect(page, texts[1:])
        page.screenshot(path=str(shot_dir / f"{path.split('?')[0] or 'runs'}.png"))
    for tab, charts, texts in TABS:
        shots.open_page(page, f"{url}/run?run={RUN}&tab={quote(tab)}", texts[0], charts=charts)
        expect(page, texts[1:])
        page.screenshot(path=str(shot_dir / f"run-{tab.lower().replace(' ', '-')}.png"))


def test_calls_show_the_purpose_month_and_phase_the_log_holds(site, fixture_root):
    url, page = site
    logged = {c["seq"]: c for c in log_events(fixture_root / RUN) if c["type"] == "llm_call"}
    shots.open_page(page, f"{url}/run?run={RUN}&tab={quote('LLM calls')}", "completion tokens")
    listed = call_labels(page, 20)  # the first page of calls
    assert listed == [as_logged(logged[seq]) for seq, *_ in listed]
    # filtered by purpose in the browser: only reflect calls, each as logged
    box = page.locator(".st-key-llm_purpose")
    box.click()
    page.keyboard.type("reflect")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    reflect = [c for c in logged.values() if c["purpose"] == "reflect"]
    page.get_by_text(f"{len(reflect)} of {len(logged)} call(s)").first.wait_for(timeout=60_000)
    settle(page)
    assert call_labels(page, len(reflect)) == [as_logged(c) for c in reflect]


def test_a_decision_opens_its_trace_in_place(site, fixture_root, shot_dir):
    url, page = site
    events = log_events(fixture_root / RUN)
    emma = [c for c in events if c["type"] == "llm_call" and (c["agent"], c["month"]) == ("Emma", 1)
            and c["purpose"].startswith("harvest")]
    shots.open_page(page, f"{url}/run?run={RUN}&tab=Timeline", "Town hall")
    open_box(page, "Emma wanted 10, caught 10", "Memories in the prompt (1)")
    listed = call_labels(page, len(emma))
    assert [as_logged(c, agent=False) for c in emma] == listed  # the calls of her harvest, as logged
    open_box(page, f"#{emma[-1]['seq']} ·", "You are Emma")
    open_box(page, "Memories in the prompt", "Before anyone goes out fishing")
    page.locator('[data-testid="stExpander"] summary', has_text="Emma wanted 10").first.scroll_into_view_if_needed()
    page.screenshot(path=str(shot_dir / "decision-trace.png"))
    open_box(page, "2 issues this month", "reflect (2)")  # grouped by purpose
    shots.open_page(page, f"{url}/run?run={RUN}&tab=Agents", "Month by month")
    open_box(page, "reflected", "reflect · attempt 1")
    page.screenshot(path=str(shot_dir / "agent-view.png"))


def test_group_view_in_compare(site, shot_dir):
    url, page = site
    shots.open_page(page, f"{url}/compare", "Stock and catch per month", charts=4)
    page.get_by_text("Stock and catch per month").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot_dir / "group-view.png"))


def test_a_long_runs_page_after_the_first_load(site, shot_dir):
    """Printed, not asserted: how long the Run page of a 12-month run takes to be ready
    (text shown, script finished, charts drawn) once the caches are warm: reloaded in the
    browser (the app's scripts loaded again), and reached inside the app."""
    url, page = site
    figures = {}
    for name, path, text, charts in (
        ("Run page reloaded (Charts)", "run?run=long/seed0", "Stock over the months", 4),
        ("reloaded on Timeline (month 1)", "run?run=long/seed0&tab=Timeline", "Town hall", 0),
        ("reloaded on Agents", "run?run=long/seed0&tab=Agents", "Calls by purpose", 0),
    ):
        shots.open_page(page, f"{url}/{path}", text, charts=charts)  # the first load: reads and caches the run
        start = time.monotonic()
        page.goto(f"{url}/{path}")
        page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
        settle(page)
        page.wait_for_function(shots.CHARTS_DRAWN, arg=charts, timeout=60_000)
        figures[name] = time.monotonic() - start
    start = time.monotonic()
    page.get_by_role("tab", name="Charts").click()
    page.get_by_text("Wanted and caught, per agent").first.wait_for(timeout=60_000)
    settle(page)
    page.wait_for_function(shots.CHARTS_DRAWN, arg=4, timeout=60_000)
    figures["Agents tab -> Charts tab"] = time.monotonic() - start
    page.get_by_role("link", name="Runs").first.click()
    page.get_by_text("runs under").first.wait_for(timeout=60_000)
    settle(page)
    start = time.monotonic()  # the page in the app (no reload), as a researcher moves between pages
    page.get_by_role("link", name="Run", exact=True).first.click()
    page.get_by_text("Stock over the months").first.wait_for(timeout=60_000)
    settle(page)
    page.wait_for_function(shots.CHARTS_DRAWN, arg=4, timeout=60_000)
    figures["Runs page -> Run page"] = time.monotonic() - start
    said = "; ".join(f"{name} {s:.2f} s" for name, s in figures.items())
    line = f"a {LONG_MONTHS}-month run, after the first load, on {os.cpu_count()} cores: {said}"
    print(f"\n{line}")
    (shot_dir / "timings.txt").write_text(line + "\n")
    page.screenshot(path=str(shot_dir / "run-long.png"))


def test_usable_at_800_px(site, shot_dir):
    url, page = site
    page.set_viewport_size({"width": 800, "height": 1000})
    try:
        shots.open_page(page, f"{url}/run?run=long/seed0", "Stock over the months", charts=4)
        sidebar = page.evaluate("""() => { const s = document.querySelector('[data-testid="stSidebar"]');
                                         return s ? s.getBoundingClientRect().right : 0 }""")
        assert sidebar <= 0  # collapsed: the page has the window's whole width
        values = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMetricValue"]'))
                                  .map(e => [e.innerText, e.scrollWidth, e.clientWidth])""")
        assert [v for v, *_ in values] == ["finished", str(LONG_MONTHS), "yes", *[v for v, *_ in values][3:]]
        assert all(scroll <= client and "…" not in text for text, scroll, client in values), values
        page.screenshot(path=str(shot_dir / "run-800.png"))
        shots.open_page(page, f"{url}/compare", "Metrics per group", charts=4)
        grid = page.locator('[data-testid="stDataFrame"]').nth(1)  # the metrics (the left-out runs come first)
        grid.scroll_into_view_if_needed()

        def headers() -> list[str]:
            return grid.evaluate("e => Array.from(e.querySelectorAll('th')).map(h => h.innerText)")

        page.wait_for_function("e => e.querySelectorAll('th').length > 2", arg=grid.element_handle(), timeout=30_000)
        assert headers()[:3] == ["group", "runs", "survival_rate"]  # the paper's first metric on screen at once
        grid.screenshot(path=str(shot_dir / "compare-800.png"))
        wanted, seen = {"gain", "equality", "over_usage", "parse_failure_rate", "model_id", "agents"}, set()
        for _ in range(15):  # the other columns a scroll away (the grid lists the columns in view once it settles)
            seen |= set(headers())
            if wanted <= seen:
                break
            grid.evaluate("e => { e.querySelector('.dvn-scroller').scrollLeft += 300 }")
            page.wait_for_timeout(700)
        assert wanted <= seen, seen
    finally:
        page.set_viewport_size(shots.VIEWPORT)
