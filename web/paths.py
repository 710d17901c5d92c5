"""Keeping the dashboard inside its folder.

The dashboard serves whatever it reads to anyone who can open its page, so it reads
only run folders and Re-ReST summaries under the folder it was started on (the *base*).
Every path a user types, and every file a run folder holds, is resolved
(``Path.resolve()``: ``..`` and symlinks followed) and must land inside the base; a path
that does not is refused with one line naming it, and a run folder holding a link out
of the base is listed with that problem and not read.
"""

from __future__ import annotations

from pathlib import Path

from govsim.rerest import results
from govsim.runlog import CONFIG_FILE, EVENTS_FILE, META_FILE, SUMMARY_FILE, RunData, read_run

RUN_FILES = (CONFIG_FILE, EVENTS_FILE, SUMMARY_FILE, META_FILE)  # what read_run opens in a run folder


class Refused(ValueError):
    """A path outside the base; the message is the one line the page shows."""


def inside(path: Path, base: Path) -> bool:
    """Whether ``path`` resolves to ``base`` or somewhere under it (``base`` already resolved)."""
    return path.resolve().is_relative_to(base)


def under(text: str | Path, base: Path) -> Path:
    """The resolved folder or file a user typed: relative to the base, or absolute inside it.

    Raises ``Refused`` when it resolves outside the base (an absolute path elsewhere, a
    ``..`` climbing out, a symlink pointing out).
    """
    typed = Path(str(text).strip() or ".").expanduser()
    path = (typed if typed.is_absolute() else base / typed).resolve()
    if not path.is_relative_to(base):
        raise Refused(
            f"{text} is outside the dashboard's folder {base}: only runs under it are shown "
            f"(give a folder under it, or start `govsim dashboard` on the folder you want)."
        )
    return path


def escapes(run_dir: Path, base: Path) -> list[str]:
    """The run folder itself, or those of its files, that resolve outside the base."""
    if not inside(run_dir, base):
        return [f"the run folder links outside the dashboard's folder {base} (to {run_dir.resolve()}): not read"]
    return [
        f"{name} links outside the dashboard's folder {base} (to {(run_dir / name).resolve()}): the run is not read"
        for name in RUN_FILES
        if not inside(run_dir / name, base)
    ]


def read_inside(run_dir: str | Path, base: Path) -> RunData:
    """``read_run``, or, when the run links out of the base, nothing read and why."""
    run_dir = Path(run_dir)
    refused = escapes(run_dir, base)
    return RunData(path=run_dir, problems=refused) if refused else read_run(run_dir)


def rerest_files(where: Path, base: Path) -> tuple[list[Path], list[Path]]:
    """The Re-ReST summaries at ``where`` (that file, or every one below that folder):
    those inside the base, and those linking out of it (not to be read)."""
    if where.is_file():
        found = [where] if where.name == results.SUMMARY_FILE else []
    else:
        found = sorted(where.rglob(results.SUMMARY_FILE)) if where.is_dir() else []
    return [p for p in found if inside(p, base)], [p for p in found if not inside(p, base)]
