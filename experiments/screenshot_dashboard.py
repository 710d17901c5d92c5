"""Screenshot the dashboard's Run page into docs/run_page.png (rerun after UI changes).

    .venv/bin/python experiments/screenshot_dashboard.py            # a fresh demo run
    .venv/bin/python experiments/screenshot_dashboard.py runs/ --run some/seed0

Starts ``govsim dashboard`` on a free loopback port and drives Debian's chromium
(/usr/bin/chromium; Playwright's own browser download is not needed) headless at
1280 px. ``serve`` and ``browser`` are also used by tests/test_web_browser.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 1400}
# At least n plotly charts are on screen and every one on screen has drawn its SVG
# (charts in hidden tabs draw when shown).
CHARTS_DRAWN = """n => {
  const shown = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).filter(c => c.offsetParent !== null);
  return shown.length >= n && shown.every(c => c.querySelector('.main-svg'));
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(root: Path, timeout: float = 60) -> Iterator[str]:
    """``govsim dashboard ROOT`` on a free loopback port; yields its URL, stops it after."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "govsim.cli", "dashboard", str(root), "--port", str(port)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the dashboard did not start:\n{log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and anything it started (its own process group); Streamlit can take
    many seconds to shut down gracefully, so it gets a few before it is killed."""
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def browser(profile: Path):
    """A headless chromium page at laptop width with a fresh profile folder."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT,
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def open_page(page, url: str, expect: str, charts: int = 0, timeout_ms: int = 30_000) -> None:
    """Load a dashboard URL and wait until Streamlit has rendered ``expect`` and settled,
    with at least ``charts`` plotly charts drawn."""
    page.goto(url)
    page.get_by_text(expect, exact=False).first.wait_for(timeout=timeout_ms)
    # Streamlit shows a "running" widget while the script runs; charts draw just after.
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)
    page.wait_for_function(CHARTS_DRAWN, arg=charts, timeout=timeout_ms)
    page.wait_for_timeout(500)


def demo_root(folder: Path) -> tuple[Path, str]:
    """A scripted society that agrees on limits yet collapses, so every chart has something to show."""
    sys.path.insert(0, str(REPO))
    from govsim.config import resolve
    from govsim.runner import run

    root = folder / "runs"
    run(resolve(overrides={"agents": "sustainable*3,random,conditional", "seed": 3}), root / "demo" / "seed3")
    return root, "demo/seed3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", type=Path, help="A folder of runs (default: a fresh demo run).")
    parser.add_argument("--run", help="The run to show, relative to the root.")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "run_page.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, name = (args.root, args.run) if args.root else demo_root(Path(tmp))
        with serve(root) as url, browser(Path(tmp) / "profile") as page:
            open_page(page, f"{url}/run" + (f"?run={name}" if name else ""), "Stock over the months", charts=2)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
