"""The memory stream: everything the agent observed, said, did and concluded.

A memory has a kind (``event``: something observed; ``chat``: something said at the
meeting; ``action``: something the agent did; ``thought``: an insight from reflection),
its text, when it was made (``created``, the agent's own clock, one tick per step it acts
in; and ``month``), an importance from 1 to 10, an optional ``expiry`` tick from which on
it is no longer recalled, an ``always_relevant`` flag (agreed limits: recalled in every
prompt while they stand), and an embedding of its text (a unit vector).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Literal

import numpy as np

Kind = Literal["event", "thought", "chat", "action"]
KINDS: tuple[str, ...] = ("event", "thought", "chat", "action")


@dataclass
class Note:
    """A memory to be: what the agent stores once the note is rated and embedded."""

    kind: Kind
    text: str
    always_relevant: bool = False
    cites: tuple[int, ...] = ()  # for insights: ids of the memories they rest on


@dataclass
class Memory:
    id: int
    kind: Kind
    text: str
    created: int
    month: int
    importance: float
    embedding: np.ndarray
    expiry: int | None = None
    always_relevant: bool = False

    def expired(self, now: int) -> bool:
        return self.expiry is not None and now >= self.expiry

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "created": self.created,
            "month": self.month,
            "importance": self.importance,
            # str() of a float32 is its shortest exact form: the list is ~40 % smaller than
            # tolist() and loads back to the very same float32 values
            "embedding": [float(str(x)) for x in self.embedding],
            "expiry": self.expiry,
            "always_relevant": self.always_relevant,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Memory":
        return cls(**{**data, "embedding": np.asarray(data["embedding"], dtype=np.float32)})


class MemoryStream:
    """An append-only list of memories with the agent's clock."""

    def __init__(self) -> None:
        self.memories: list[Memory] = []
        self.now = 0  # ticks once per step the agent acts in

    def __iter__(self) -> Iterator[Memory]:
        return iter(self.memories)

    def __len__(self) -> int:
        return len(self.memories)

    def tick(self) -> int:
        self.now += 1
        return self.now

    def add(
        self,
        kind: Kind,
        text: str,
        importance: float,
        embedding: np.ndarray,
        month: int,
        always_relevant: bool = False,
        expiry: int | None = None,
    ) -> Memory:
        if kind not in KINDS:
            raise ValueError(f"memory kind {kind!r}: use one of {KINDS}")
        if not 1 <= importance <= 10:
            raise ValueError(f"importance {importance} is outside 1-10")
        memory = Memory(
            id=len(self.memories),
            kind=kind,
            text=text,
            created=self.now,
            month=month,
            importance=float(importance),
            embedding=np.asarray(embedding, dtype=np.float32),
            expiry=expiry,
            always_relevant=always_relevant,
        )
        self.memories.append(memory)
        return memory

    def live(self) -> list[Memory]:
        """The memories not yet expired."""
        return [m for m in self.memories if not m.expired(self.now)]

    def expire(self, memory: Memory) -> None:
        """Stop recalling a memory from now on (e.g. an agreed limit that was replaced)."""
        memory.expiry = self.now

    def recent(self, n: int) -> list[Memory]:
        """The newest n live memories, oldest first."""
        return self.live()[-n:] if n > 0 else []

    def state_dict(self) -> dict[str, Any]:
        return {"now": self.now, "memories": [m.to_dict() for m in self.memories]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.now = state["now"]
        self.memories = [Memory.from_dict(m) for m in state["memories"]]
