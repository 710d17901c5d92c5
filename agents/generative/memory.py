"""The memory stream: everything the agent observed, said, did and concluded, with dates.

A memory has a kind (``event``: something observed; ``chat``: the talk of a meeting;
``action``: something the agent did; ``thought``: an insight, a thought after the talk,
an agreed limit), its text, when it was made (``created``, a simulated date and time, and
``month``), an importance from 1 to 10, an ``expiry`` from which on it is no longer
recalled, an ``always_relevant`` flag (recalled in every prompt while it stands: the
stock, the universalization hint, the agent's own catch, the agreed limits), the ids of
the memories it rests on (``cites``, for insights), and an embedding of its text (a
unit vector).

Dates follow the reference GovSim's calendar (simulation/scenarios/common/environment/
concurrent_env.py), so that "expires after 63 days" means what it means there. A month's
times, all at 01:00 (the reference starts at 2024-01-01 01:00 and keeps the hour):

- harvest: the 1st; the stock and the universalization hint are dated then;
- the talk: the day before the month's last day; the agent's own catch is dated one
  minute before it (the reference's way to list it before the talk);
- home (reflection): the month's last day.

Observations of the environment expire on the month's last day at 01:00, so neither the
home reflection nor the next month sees them; every other memory expires 63 days after it
was made. A memory is live while its expiry lies after the agent's clock (``now``).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

Kind = Literal["event", "thought", "chat", "action"]
KINDS: tuple[str, ...] = ("event", "thought", "chat", "action")
LIFETIME = timedelta(days=63)  # reference: agent.store.expiration_delta.days
HOUR = 1  # the hour of day of every step in the reference's calendar
ALWAYS_IMPORTANCE = 10.0  # what an always-relevant memory is rated, without asking


@dataclass(frozen=True)
class Month:
    """The simulated times of one month, from the env's ``info["date"]`` (its first day)."""

    harvest: datetime
    talk: datetime
    catch_report: datetime
    home: datetime

    @classmethod
    def of(cls, date: str) -> Month:
        first = datetime.fromisoformat(date).replace(day=1, hour=HOUR, minute=0, second=0, microsecond=0)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        talk = last - timedelta(days=1)
        return cls(harvest=first, talk=talk, catch_report=talk - timedelta(minutes=1), home=last)

    @property
    def end(self) -> datetime:
        """When the month's observations expire: the home day, so reflection no longer sees them."""
        return self.home


def expiry_for(kind: Kind, created: datetime) -> datetime:
    """The reference's default: events at the end of their month, the rest 63 days on."""
    if kind == "event":
        return Month.of(created.date().isoformat()).end
    return created + LIFETIME


@dataclass
class Note:
    """A memory to be: what the agent stores once the note is rated and embedded.

    ``created`` None: the agent's clock. ``expiry`` None: ``expiry_for(kind, created)``.
    ``source`` says where it came from (``observation``, ``summary``, ``planning``,
    ``memorize``, ``limit``, ``reflection``, ``agent``), as the agent's events report it.
    """

    kind: Kind
    text: str
    always_relevant: bool = False
    cites: tuple[int, ...] = ()  # for insights: ids of the memories they rest on
    created: datetime | None = None
    expiry: datetime | None = None
    source: str = "agent"

    @classmethod
    def observed(cls, text: str, created: datetime, expiry: datetime) -> Note:
        """What the env showed the agent (``perceive``, ``civic``): an always-relevant event."""
        return cls("event", text, always_relevant=True, created=created, expiry=expiry, source="observation")


@dataclass
class Memory:
    id: int
    kind: Kind
    text: str
    created: datetime
    month: int
    importance: float
    embedding: np.ndarray
    expiry: datetime
    always_relevant: bool = False
    cites: tuple[int, ...] = ()

    @property
    def day(self) -> str:
        """The date shown beside the memory in prompts (YYYY-MM-DD)."""
        return self.created.date().isoformat()

    def live(self, now: datetime) -> bool:
        return self.expiry > now

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "created": self.created.isoformat(),
            "month": self.month,
            "importance": self.importance,
            # str() of a float32 is its shortest exact form: the list is ~40 % smaller than
            # tolist() and loads back to the very same float32 values
            "embedding": [float(str(x)) for x in self.embedding],
            "expiry": self.expiry.isoformat(),
            "always_relevant": self.always_relevant,
            "cites": list(self.cites),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Memory:
        return cls(
            **{
                **data,
                "created": datetime.fromisoformat(data["created"]),
                "expiry": datetime.fromisoformat(data["expiry"]),
                "embedding": np.asarray(data["embedding"], dtype=np.float32),
                "cites": tuple(data["cites"]),
            }
        )


class MemoryStream:
    """An append-only list of memories (oldest first) and the agent's clock."""

    def __init__(self) -> None:
        self.memories: list[Memory] = []
        self.now = datetime(2024, 1, 1, HOUR)  # set by the agent every step

    def __iter__(self) -> Iterator[Memory]:
        return iter(self.memories)

    def __len__(self) -> int:
        return len(self.memories)

    def add(
        self,
        kind: Kind,
        text: str,
        importance: float,
        embedding: np.ndarray,
        month: int,
        *,
        created: datetime | None = None,
        expiry: datetime | None = None,
        always_relevant: bool = False,
        cites: tuple[int, ...] = (),
    ) -> Memory:
        if kind not in KINDS:
            raise ValueError(f"memory kind {kind!r}: use one of {KINDS}")
        if not 1 <= importance <= 10:
            raise ValueError(f"importance {importance} is outside 1-10")
        created = self.now if created is None else created
        memory = Memory(
            id=len(self.memories),
            kind=kind,
            text=text,
            created=created,
            month=month,
            importance=float(importance),
            embedding=np.asarray(embedding, dtype=np.float32),
            expiry=expiry_for(kind, created) if expiry is None else expiry,
            always_relevant=always_relevant,
            cites=tuple(cites),
        )
        self.memories.append(memory)
        return memory

    def live(self) -> list[Memory]:
        """The memories not yet expired, oldest first."""
        return [m for m in self.memories if m.live(self.now)]

    def state_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "memories": [m.to_dict() for m in self.memories]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.now = datetime.fromisoformat(state["now"])
        self.memories = [Memory.from_dict(m) for m in state["memories"]]
