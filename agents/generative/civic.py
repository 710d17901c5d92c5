"""What the agent keeps of the institutions, as the env tells it, each thing once a month.

Like the stock and its own catch (``perceive``), these are observations: always relevant
(importance 10, no model call), expiring at the month's end. Under an election, the
harvest's sentences on the leader (who won, by how many votes, its limit for the month),
dated the harvest day, so the harvest decision recalls them; under sanctions, the month's
fines, dated with the agent's catch just before the talk. What lasts beyond the month is
what the talk made of them (its summary, the agreed limit), as for everything else.

Nothing here needs saving at a checkpoint: it is taken at a month's start, before
anything of that month is seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.generative.memory import Note

if TYPE_CHECKING:
    from agents.generative.context import Context


class Civic:
    """An observer component like ``perceive.Perception``: ``await civic(ctx)`` gives the news not stored yet."""

    def __init__(self) -> None:
        self.month = 0
        self.announced = False
        self.fines_told = False

    async def __call__(self, ctx: Context) -> list[Note]:
        """The institutions' news of this month not stored yet."""
        info = ctx.moment.info
        if info["month"] != self.month:
            self.month, self.announced, self.fines_told = info["month"], False, False
        times, notes = ctx.moment.times, []
        if info.get("announcement") and not self.announced:
            self.announced = True
            notes.append(Note.observed(" ".join(info["announcement"]), times.harvest, times.end))
        if info.get("sanction_report") and not self.fines_told:
            self.fines_told = True
            notes.append(Note.observed(" ".join(info["sanction_report"]), times.catch_report, times.end))
        return notes
