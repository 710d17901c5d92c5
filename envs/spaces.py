"""The action spaces of commons_v0: Gymnasium's spaces that also hold what agents send.

A reinforcement-learning policy samples a Gymnasium space: a one-element ``Box`` for an
amount, a ``Discrete`` seat index, a 0/1 ``MultiBinary`` mask, a ``Text`` of the env's
alphabet. Agents written by hand or around a language model send plain numbers, seat
names, lists of names and any text. The env reads both without an ``invalid_action``
(``envs/actions.py`` says how), so each space here is the Gymnasium space with
``contains`` holding exactly what the env reads as given, no coercion: those of the base
space's members it reads so, and the other forms agents send. ``sample`` is the base
space's (the same draws for the same seed), so samplers, flatteners and checkers see the
Gymnasium space they know.

``contains`` checks the form and the space's fixed range; what depends on the moment (an
amount above the stock, a name the speaker may not give, a target it may not fine) is
refused by the env and recorded, as for any value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.actions import encodable, read_whole


def _as_given(value: Any, bools: bool = False) -> int | None:
    """The whole number ``value`` is in one of the env's own forms (no coercion), else None."""
    number, how = read_whole(value, bools=bools)
    return None if how else number


class _Declared:
    """Equal only to a space of the same class over the same seats (the base spaces' ``==``
    would call an ``Amount`` and a plain ``Box`` of the same range equal)."""

    names: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.names == other.names and super().__eq__(other)


class Amount(_Declared, spaces.Box):
    """A whole number in ``[low, high]``: an ``int`` (what agents send) or the one-element
    int64 array ``sample`` gives."""

    def __init__(self, low: int, high: int) -> None:
        super().__init__(low, high, shape=(1,), dtype=np.int64)

    def contains(self, x: Any) -> bool:
        number = _as_given(x)
        return number is not None and int(self.low[0]) <= number <= int(self.high[0])

    def __repr__(self) -> str:
        return f"Amount({int(self.low[0])}, {int(self.high[0])})"


class Flag(_Declared, spaces.Discrete):
    """Yes or no: 0/1 (``sample``) or a ``bool``."""

    def __init__(self) -> None:
        super().__init__(2)

    def contains(self, x: Any) -> bool:
        return _as_given(x, bools=True) in (0, 1)

    def __repr__(self) -> str:
        return "Flag()"


class _Seated(_Declared):
    """A space over the seats ``names`` (in seat order): the base space is over their count."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(len(names))
        self.names = tuple(names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.names)})"


class Seat(_Seated, spaces.Discrete):
    """One seat: its name (what agents send) or its index in seat order (``sample``)."""

    def contains(self, x: Any) -> bool:
        if isinstance(x, str):
            return x in self.names
        index = _as_given(x)
        return index is not None and 0 <= index < len(self.names)


class Seats(_Seated, spaces.MultiBinary):
    """Some seats: a list of distinct names or one name (what agents send), or a 0/1 mask in
    seat order (``sample``)."""

    def contains(self, x: Any) -> bool:
        if isinstance(x, str):
            return x in self.names
        if isinstance(x, (list, tuple)):
            return all(isinstance(v, str) and v in self.names for v in x) and len(set(x)) == len(x)
        return (isinstance(x, np.ndarray) and x.shape == self.shape and x.dtype.kind in "iub"
                and bool(np.isin(x, (0, 1)).all()))


class Words(_Declared, spaces.Text):
    """Text of at most ``max_length`` characters, any that UTF-8 encodes (what agents send);
    ``sample`` draws from the env's alphabet ``charset``."""

    def __init__(self, max_length: int, charset: frozenset[str]) -> None:
        super().__init__(max_length, charset=charset, min_length=0)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length and not encodable(x)[1]

    def __repr__(self) -> str:
        return f"Words({self.max_length})"
