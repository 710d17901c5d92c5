"""Play: start a run with a seat a person plays (agent type ``human``), and play it here.

The run is an ordinary run directory under the dashboard's folder (every page shows it),
run by ``govsim.runner`` on a background thread of the dashboard's process, so a browser
reload, a second tab or closing the page loses nothing. The human seat talks to the page
through its ``files`` channel in the run's ``human/`` folder (``agents.human``): the
seat's pending question is ``human/request.json``, the page writes the answer. The other
seats act between the person's turns. A run whose thread is gone (the dashboard was
restarted, or the person left the seat) is resumed from the start of its month.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

import agents as agent_registry
from agents import human
from govsim import preflight, runner, scenarios
from govsim.config import ConfigError, LLMConfig, RunConfig, experiments, resolve
from govsim.phases import NO_LIMIT
from govsim.runlog import CONFIG_FILE, EVENTS_FILE, find_runs
from govsim.scenarios import ScenarioError
from web import data, paths, ui

SEAT_DIR = "human"  # the files channel's folder inside a run directory
BACKENDS = LLMConfig.model_fields["backend"].annotation.__args__
POLL_S = 1.0  # how often a waiting page looks for the seat's next question
log = logging.getLogger("govsim.web")


# ---------------------------------------------------------------------------- games


@dataclass
class Game:
    """A run played on a thread of this process."""

    thread: threading.Thread
    outcome: list[str] = field(default_factory=list)  # one line: how the thread ended, if it did


@st.cache_resource
def _games() -> dict[str, Game]:
    return {}  # run directory -> its game, shared by every session of this server


def start(config: RunConfig, run_dir: Path) -> None:
    """Run (or resume) the run on a daemon thread, unless this process already plays it."""
    games = _games()
    game = games.get(str(run_dir))
    if game is not None and game.thread.is_alive():
        return
    for name in (human.REQUEST_FILE, human.ANSWER_FILE):  # a question of a process that is gone
        (run_dir / SEAT_DIR / name).unlink(missing_ok=True)
    outcome: list[str] = []

    def play() -> None:
        try:
            result = runner.run(config, run_dir, resume=True)
            if result.summary.get("valid") is False:
                outcome.append(f"the run was stopped: {result.summary.get('invalid_reason')}")
        except human.SeatLeft as exc:
            outcome.append(f"{exc}: the run is unfinished; resume it to play on from that month's start")
        except Exception as exc:  # the page says what ended the run in one line
            log.exception("play: the run %s failed", run_dir)
            outcome.append(f"the run failed: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=play, daemon=True, name=f"govsim play {run_dir.name}")
    games[str(run_dir)] = Game(thread, outcome)
    thread.start()


def playing_here(run_dir: Path) -> Game | None:
    return _games().get(str(run_dir))


def served(run_dir: Path) -> bool:
    """Whether a live thread plays the run: here, or in another dashboard process still running."""
    game = playing_here(run_dir)
    if game is not None and game.thread.is_alive():
        return True
    asked = human.pending(run_dir / SEAT_DIR)
    pid = asked[1] if asked else None
    return pid is not None and pid != os.getpid() and _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------- configs


def play_config(
    scenario: str, experiment: str, months: int, seed: int, seat: int, others: list[str], model: str, backend: str,
    run_dir: Path,
) -> RunConfig:
    """The run's config: the experiment's seats, the person at seat ``seat``, the given
    types at the others; ``ConfigError`` (one line) when it cannot run."""
    types = list(others)
    types.insert(seat, "human")
    overrides: dict[str, Any] = {
        "scenario": scenario, "experiment": experiment, "months": months, "seed": seed, "agents": ",".join(types),
        f"agents.{seat}.params": {"channel": "files", "folder": str(run_dir / SEAT_DIR)},
        "llm.model": model, "llm.backend": backend,
    }
    config = resolve(experiment, overrides=overrides)
    preflight.check_configs([config])
    return config


def saved_config(run_dir: Path, config: dict[str, Any] | None) -> RunConfig | str:
    """A played run's own config, to resume it, or why it cannot be played here (one line)."""
    if not config:
        return "its config.json is missing or damaged"
    try:
        cfg = RunConfig.model_validate(config)
    except ValueError as exc:
        return f"its config is not valid here ({str(exc).splitlines()[0]})"
    folders = [s.params.get("folder") for s in cfg.agents if s.type == "human" and s.params.get("channel") == "files"]
    if len(folders) != 1:
        return "it has no seat played through the dashboard (one human seat with the files channel)"
    if not isinstance(folders[0], str) or Path(folders[0]).resolve() != (run_dir / SEAT_DIR).resolve():
        return f"its human seat answers in {folders[0]}, not in its own {SEAT_DIR}/ folder"
    return cfg


def playable(root_dir: Path) -> list[Path]:
    """Run folders under the root that hold a human seat's folder."""
    return [p for p in find_runs(root_dir) if (p / SEAT_DIR).is_dir() and paths.inside(p, ui.base())]


# ---------------------------------------------------------------------------- starting


def start_form(root_dir: Path) -> None:
    presets = list(experiments())
    cols = st.columns(4)
    scenario = cols[0].selectbox("Scenario", scenarios.available(), key="play_scenario")
    experiment = cols[1].selectbox("Experiment", presets, key="play_experiment")
    try:
        base = resolve(experiment, overrides={"scenario": scenario})
    except (ConfigError, ScenarioError) as exc:
        st.error(str(exc))
        return
    months = cols[2].number_input("Months", 1, 120, base.months, key=f"play_months_{experiment}")
    seed = cols[3].number_input("Seed", 0, 2**31, 0, key="play_seed")
    names = [s.name for s in base.agents]
    joins = [s.join_month for s in base.agents]
    seat = st.radio("Your seat", range(len(names)), horizontal=True, key=f"play_seat_{experiment}",
                    format_func=lambda i: names[i] + (f" (joins in month {joins[i]})" if joins[i] > 1 else ""))
    kinds = sorted(t for t in agent_registry.registered() if t != "human")
    st.caption("The other seats")
    cols = st.columns(len(names) - 1 or 1)
    others = [
        col.selectbox(name, kinds, index=kinds.index("sustainable") if "sustainable" in kinds else 0,
                      key=f"play_type_{experiment}_{name}")
        for col, name in zip(cols, [n for i, n in enumerate(names) if i != seat])
    ]
    cols = st.columns([1, 2, 3])
    backend = cols[0].selectbox("Backend", BACKENDS, index=BACKENDS.index("auto"), key="play_backend",
                                help="For the seats that call a model: fake answers at once (for trying the page).")
    model = cols[1].text_input("Model", "embedded", key="play_model",
                               help="'embedded' (SmolLM2-135M), a folder or a hub name.")
    folder = cols[2].text_input("Folder of the new run", key="play_folder",
                                placeholder=f"play/{scenario}-{experiment}-seed{seed}-<date>-<time>",
                                help=f"Under {root_dir}; the run is written there as any run is.")
    if not st.button("Start the run", type="primary", key="play_start"):
        return
    folder = folder.strip() or f"play/{scenario}-{experiment}-seed{seed}-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        run_dir = paths.under(folder, root_dir)
        if not run_dir.is_relative_to(ui.base()):
            raise paths.Refused(f"{folder} is outside the dashboard's folder {ui.base()}")
        if (run_dir / EVENTS_FILE).exists() or (run_dir / CONFIG_FILE).exists():
            raise ConfigError(f"{folder} already holds a run: pick it below to play it, or give another folder")
        config = play_config(scenario, experiment, int(months), int(seed), int(seat), others, model, backend, run_dir)
    except (paths.Refused, ConfigError, ScenarioError) as exc:
        st.error(str(exc))
        return
    (run_dir / SEAT_DIR).mkdir(parents=True, exist_ok=True)
    start(config, run_dir)
    deadline = time.monotonic() + 10
    while not (run_dir / EVENTS_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    st.session_state["play_run"] = str(run_dir.relative_to(root_dir))
    st.session_state["play_pick"] = st.session_state["play_run"]
    st.query_params["run"] = st.session_state["play_run"]
    st.rerun()


# ---------------------------------------------------------------------------- playing


def view_panel(view: human.View) -> None:
    """What the seat sees: its numbers, the mayor's report, the talk it heard, the summary."""
    cols = st.columns(5)
    cols[0].metric("Month", view.month)
    cols[1].metric("Phase", view.phase)
    cols[2].metric("Stock", view.stock)
    cols[3].metric("Agreed limit", "none" if view.agreed_limit == NO_LIMIT else view.agreed_limit)
    cols[4].metric("You caught", view.caught, help=f"last harvest; you asked for {view.wanted}")
    if view.threshold is not None:
        st.caption(f"If everyone takes more than {view.threshold}, the resource shrinks.")
    if view.report:
        with st.chat_message("Mayor", avatar=":material/campaign:"):
            st.text(view.report)
    for turn in view.conversation:
        mine = turn.speaker == view.agent
        with st.chat_message("user" if mine else turn.speaker, avatar=None if mine else ":material/person:"):
            st.markdown(f"**{ui.plain(turn.speaker)}**" + (" (you)" if mine else ""))
            st.text(turn.text)
    if view.summary:
        st.info(f"Summary: {view.summary}")
    with st.expander("Everything your seat observes (the observation's text)"):
        st.text(view.text or "(nothing yet)")


def _widget(f: human.Field, key: str) -> Any:
    if f.kind == "amount":
        if f.no_limit:
            none = st.checkbox("No limit was agreed", key=f"{key}_none")
            number = st.number_input(f.label, f.low, f.high, value=None, step=1, key=key)
            return "none" if none else number
        return st.number_input(f.label, f.low, f.high, value=None, step=1, key=key, placeholder=f"{f.low}-{f.high}")
    if f.kind == "text":
        return st.text_area(f.label, key=key, max_chars=human.MAX_TEXT, placeholder=f.hint())
    if f.kind == "flag":
        return st.radio(f.label, ["no", "yes"], index=None, horizontal=True, key=key)
    if f.kind == "names":  # none, one or several (the sanction: whom to fine)
        return st.multiselect(f.label, f.choices, default=[], key=key, placeholder="nobody")
    label = f.label + (" (not needed if you end the talk)" if f.unless else "")
    return st.selectbox(label, f.choices, index=None, key=key, placeholder="choose a name")


def ask(folder: Path, request: human.Request) -> None:
    """The seat's question as a form; the answer goes to the channel's folder."""
    st.subheader(request.question)
    if request.error:
        st.warning(f"Asked again: {request.error}")
    with st.form(key=f"play_form_{request.id}"):
        values = {f.key: _widget(f, f"play_{request.id}_{f.key}") for f in request.fields}
        sent = st.form_submit_button("Answer", type="primary")
    view_panel(request.view)
    if st.button("Leave the seat (resume later)", key=f"play_leave_{request.id}"):
        human.leave(folder, request.id)
        _handed(folder, request.id)
    if sent:
        if not human.answer(folder, request.id, values):
            st.warning("This question was already answered (in another tab?): showing the next one.")
        _handed(folder, request.id)


def _handed(folder: Path, request_id: str) -> None:
    """Wait a moment for the seat to take the answer, then show what comes next."""
    st.session_state["play_answered"] = request_id
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        now = human.pending(folder)
        if now is None or now[0].id != request_id:
            break
        time.sleep(0.05)
    st.rerun()


def current(folder: Path) -> human.Request | None:
    """The pending question, unless it is the one this session just answered."""
    now = human.pending(folder)
    if now is None or now[0].id == st.session_state.get("play_answered"):
        return None
    return now[0]


def seat_panel(run_dir: Path) -> None:
    run = ui.load_run(run_dir)
    st.caption(ui.describe(run))
    folder = run_dir / SEAT_DIR
    config = saved_config(run_dir, run.config)
    if isinstance(config, str):
        st.error(f"This run cannot be played here: {config}.")
        return
    game = playing_here(run_dir)
    for line in game.outcome if game else []:
        st.warning(line)
    if run.finished:
        metrics = data.checked_summary(run.summary)[0]
        st.success(f"The run is over: {data.months_played(run.events)} month(s), "
                   f"{'the resource survived' if metrics.get('survived') else 'the resource collapsed'}.")
        seat = next(s.name for s in config.agents if s.type == "human")
        caught = sum(data.as_int(e.get("caught")) for e in run.of_type("harvest") if e.get("agent") == seat)
        st.metric(f"You ({seat}) caught in all", caught)
        if st.button("Open it on the Run page", key="play_open"):
            st.switch_page("views/run.py", query_params={"run": st.session_state.get("play_pick", "")})
        return
    if not served(run_dir):
        month = data.months_played(run.events) or 1
        st.info(f"Nobody plays this run now (the dashboard was restarted, or the seat was left). Resuming starts "
                f"again from the beginning of month {month}.")
        if st.button("Resume the run", type="primary", key="play_resume"):
            start(config, run_dir)
            st.rerun()
        return
    request = current(folder)
    if request is not None:
        ask(folder, request)
        return
    waiting(run_dir, folder)


def waiting(run_dir: Path, folder: Path) -> None:
    """While the others act: the seat's latest view, re-read until a question comes or the run ends."""

    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        if current(folder) is not None or not served(run_dir) or ui.load_run(run_dir).finished:
            st.rerun()
        st.caption("The other seats are acting…")
        view = human.last_view(folder)
        if view is not None:
            view_panel(view)

    poll()


def render() -> None:
    st.title("Play")
    root_dir = ui.folder()
    if root_dir is None:
        return
    runs = playable(root_dir) if root_dir.is_dir() else []
    names = [str(p.relative_to(root_dir)) for p in runs]
    with st.expander("Start a run", expanded=not names):
        start_form(root_dir)
    if not names:
        st.caption("No played runs under this folder yet: start one above.")
        return
    wanted = st.session_state.get("play_run") or st.query_params.get("run")
    if st.session_state.get("play_pick") not in names:
        st.session_state.pop("play_pick", None)
    name = st.selectbox("Played run", names, index=names.index(wanted) if wanted in names else len(names) - 1,
                        key="play_pick")
    st.session_state["play_run"] = name
    if st.query_params.get("run") != name:
        st.query_params["run"] = name
    seat_panel(root_dir / name)


if __name__ == "__main__":
    ui.guarded(render)
