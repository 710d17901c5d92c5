"""Screenshot the dashboard's decision trace and Compare's group view into docs/ (rerun
after UI changes).

    .venv/bin/govsim run --agents 'generative*5' --model embedded --months 1 --out /tmp/embedded-run
    .venv/bin/python experiments/screenshot_traces.py /tmp/embedded-run/seed0

The trace is of the given run (a real model's, so the prompt and reply are real): the
first harvest caught above f(h), opened with its call's prompt and reply. The group view
is of scripted sweeps made here (five seeds of three seat mixes). Uses the helpers of
``screenshot_dashboard.py`` (headless Debian chromium at 1280 px).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("screenshot_dashboard", REPO / "experiments" / "screenshot_dashboard.py")
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)
# Scroll an element to the top of the page, below Streamlit's sticky top bar.
TO_TOP = """e => {
  e.scrollIntoView({block: 'start'});
  let box = e.parentElement;
  while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowY)) box = box.parentElement;
  if (box) box.scrollTop -= 90;
}"""
SETTLED = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
MIXES = ("sustainable*5", "sustainable*3,random,conditional", "sustainable*4,greedy")


def sweeps(root: Path) -> None:
    sys.path.insert(0, str(REPO))
    from govsim.config import resolve
    from govsim.runner import run

    for mix in MIXES:
        for seed in range(5):
            run(resolve(overrides={"agents": mix, "seed": seed}), root / "sweep" / mix.replace("*", "x") / f"seed{seed}")


def above_threshold(run_dir: Path) -> str:
    """The first harvest above f(h) (else the first harvest): its agent."""
    harvests = [e for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines()) if e["type"] == "harvest"]
    return next((h for h in harvests if h["caught"] > h["threshold"]), harvests[0])["agent"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="A run directory (a real model's) for the decision trace.")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        shutil.copytree(args.run, root / "real" / args.run.name)
        sweeps(root)
        agent = above_threshold(args.run)
        with shots.serve(root) as url, shots.browser(Path(tmp) / "profile") as page:
            shots.open_page(page, f"{url}/run?run=real/{args.run.name}&tab=Timeline", "Town hall")
            page.locator('[data-testid="stExpander"] summary', has_text=f"{agent} wanted").first.click()
            page.get_by_text("Memories in the prompt").first.wait_for()
            page.wait_for_function(SETTLED)
            page.locator('[data-testid="stExpander"] summary', has_text="· harvest · attempt 1").first.click()
            page.get_by_text("reply").first.wait_for()
            page.wait_for_timeout(1000)
            top = page.locator('[data-testid="stExpander"] summary', has_text=f"{agent} wanted").first
            top.evaluate(TO_TOP)
            page.screenshot(path=str(args.out / "decision_trace.png"))
            shots.open_page(page, f"{url}/compare", "Stock and catch per month", charts=4)
            page.get_by_text("Metrics per group").first.evaluate(TO_TOP)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out / "group_view.png"))
    print(f"wrote {args.out / 'decision_trace.png'} and {args.out / 'group_view.png'}")


if __name__ == "__main__":
    main()
