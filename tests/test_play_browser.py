"""End to end: a person plays the human seat of a 2-month run in headless Chromium.

`govsim dashboard` is started on an empty folder; the Play page starts a run (one other
seat generative on the fake backend, three sustainable), then every question the seat is
asked is answered through the page's widgets (one harvest left empty first, to be asked
again), until the run is over. Set GOVSIM_PLAY_SHOT=docs/play_page.png to save the
screenshot of the scribe's question (month 1's talk above it) for the docs (it is saved under the test's folder anyway).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from chromium import MARKS, shots  # noqa: E402  (the shared screenshot helper)

from agents import human
from govsim.runlog import read_run

pytestmark = MARKS

RUN = "play/browser"
SAYS = {1: "Ten tons each keeps the lake full.", 2: "Let us stay at ten."}
SETTLED = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"  # Streamlit is not running the script
LOG = []  # (what, seconds): how long the page took to show each question, printed at the end


def choose(page, container, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox inside ``container``."""
    container.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()


def wait_for_request(folder: Path, answered: set[str], timeout: float = 60) -> human.Request:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = human.pending(folder)
        if now is not None and now[0].id not in answered:
            return now[0]
        time.sleep(0.1)
    raise AssertionError(f"no new question in {folder}")


def answer(page, request: human.Request, leave_empty: bool, shot: Path | None = None) -> None:
    """Fill the question's form as a person would (``shot``: screenshot it filled), and send it."""
    month = request.view.month
    values = {"harvest": "10", "utterance": SAYS[month], "end_conversation": "no" if month == 1 else "yes",
              "next_speaker": "Jack", "summary": f"We agreed on 10 tons each in month {month}.", "agreed_limit": "10",
              "reflection": "Holding to ten worked."}
    page.wait_for_function(SETTLED)
    for field in request.fields:
        box = page.locator(f".st-key-play_{request.id}_{field.key}")
        if leave_empty or (field.unless and values[field.unless] == "yes"):
            continue
        if field.kind in ("amount", "text"):
            box.locator("input, textarea").first.fill(values[field.key])
        elif field.kind == "flag":
            box.get_by_text(values[field.key], exact=True).click()
        else:
            choose(page, box, values[field.key])
    if shot is not None:
        page.wait_for_function(SETTLED)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot))
    page.get_by_role("button", name="Answer").click()


def test_a_person_plays_a_two_month_run_in_the_browser(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    folder = root / RUN / "human"
    with shots.serve(root) as url, shots.browser(tmp_path / "profile") as page:
        shots.open_page(page, f"{url}/play", "Start a run")
        page.get_by_label("Months").fill("2")
        page.get_by_label("Months").press("Enter")
        choose(page, page.locator(".st-key-play_backend"), "fake")
        choose(page, page.locator(".st-key-play_type_default_Kate"), "generative")
        where = page.get_by_role("textbox", name="Folder of the new run")
        where.fill(RUN)
        where.press("Enter")
        page.wait_for_function(SETTLED)
        page.get_by_role("button", name="Start the run").click()

        answered: set[str] = set()
        asked: list[tuple[int, str, str | None]] = []
        while not (root / RUN / "summary.json").exists():
            try:
                request = wait_for_request(folder, answered, timeout=5)
            except AssertionError:
                continue  # the run may have ended meanwhile
            shown = time.monotonic()
            page.get_by_text(request.question, exact=True).first.wait_for(timeout=60_000)
            page.locator(f".st-key-play_{request.id}_{request.fields[0].key}").wait_for(timeout=60_000)
            LOG.append((f"month {request.view.month} {request.view.phase}", round(time.monotonic() - shown, 2)))
            asked.append((request.view.month, request.view.phase, request.error))
            if request.error:
                page.get_by_text(f"Asked again: {request.error}").wait_for()
            scribe = (request.view.month, request.view.phase) == (1, "summary")  # the whole talk on screen
            answer(page, request, leave_empty=len(asked) == 1, shot=tmp_path / "play_page.png" if scribe else None)
            answered.add(request.id)
        page.get_by_text("The run is over").wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "play_over.png"))
        body = page.inner_text("body")
        assert "Traceback" not in body and "could not be shown" not in body

        # a played run is a run like any other: its Run page shows it
        shots.open_page(page, f"{url}/run?run={RUN}", "Stock over the months", charts=1)
        assert "human" in page.inner_text("body")

    print("question shown after (s):", LOG)
    assert asked[0] == (1, "harvest", None)
    assert asked[1] == (1, "harvest", "harvest: give a whole number from 0 to 100")
    phases = [(m, p) for m, p, e in asked[2:]]
    assert (1, "discussion") in phases and (2, "discussion") in phases and (2, "reflection") == phases[-1]
    run = read_run(root / RUN)
    assert run.finished and run.summary["valid"] is True and not run.problems
    mine = [e for e in run.events if e.get("agent") == "John"]
    assert [e["wanted"] for e in mine if e["type"] == "harvest"] == [10, 10]
    assert [e["text"] for e in mine if e["type"] == "utterance"] == [SAYS[1], SAYS[2]]
    assert [(e["next_speaker"], e["end"]) for e in mine if e["type"] == "utterance"] == [("Jack", False), (None, True)]
    assert [e["agreed_limit"] for e in run.of_type("summary")] == [10, 10]
    assert [e["text"] for e in mine if e["type"] == "reflection"] == ["Holding to ten worked."] * 2
    assert run.summary["agents"] == {"John": "human", "Kate": "generative", "Jack": "sustainable",
                                     "Emma": "sustainable", "Luke": "sustainable"}
    assert any(e["type"] == "llm_call" and e["agent"] == "Kate" for e in run.events)  # the model acted between turns
    assert not [e for e in mine if e["type"] == "invalid_action"]  # every answer was taken as given
    target = os.environ.get("GOVSIM_PLAY_SHOT")
    if target:
        shutil.copy(tmp_path / "play_page.png", target)
