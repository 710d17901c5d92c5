"""How commons_v0 reads the values of an action, and how it shows a bad one in an event.

The action space's own forms are read as they are: an ``int`` or numpy integer, or a
one-element integer array (what ``action_space.sample()`` gives) for amounts and indices,
a ``str`` for text. Anything else is either coerced or refused, and the env records each
as an ``invalid_action`` event saying what it used:

- a float (or Fraction, Decimal) that is finite is rounded DOWN: 0.9 -> 0, 7.0 -> 7 (an
  agent never gets more than it asked for); NaN and +-inf are refused;
- a numeric string (``"7"``, ``" 7.5 "``, ``"1e2"``) is read as its number, as above;
  other strings are refused;
- a list or tuple of one value, or an array of one value in another shape, is read as
  that value; with more or fewer values it is refused;
- a bool is refused as an amount (True is not 1 ton), but read as itself for a yes/no
  flag (``end_conversation``), where it is the natural value;
- complex numbers and every other type are refused.

A refused value is replaced by the key's default (0 for a harvest, no limit for the
agreed limit). Text must be a ``str`` (``bytes`` are decoded as UTF-8, recorded); code
points UTF-8 cannot encode (lone surrogates such as ``"\\ud800"``) are replaced by U+FFFD
before the text enters any event, and recorded.
"""

from __future__ import annotations

import math
import re
import reprlib
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

MAX_SHOWN = 200  # characters of a bad value copied into an invalid_action event
MAX_NUMBER_TEXT = 40  # a longer string is not read as a number
_HUGE = 2**63 - 1  # a float beyond it is read as +-_HUGE (every range clips it)
_SURROGATES = re.compile("[\ud800-\udfff]")
_REPR = reprlib.Repr()  # bounded reprs of containers (Python 3.11's Repr takes no arguments)
_REPR.maxstring = _REPR.maxother = MAX_SHOWN


def read_whole(value: Any, bools: bool = False) -> tuple[int | None, str]:
    """``(number, how)``: the whole number an action's value stands for, or None if refused.

    ``how`` is "" for the action space's own forms, else what was done (or why it was
    refused), for the invalid_action event. ``bools``: read a bool as 0/1 (flags).
    """
    how = ""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None, f"an array of {value.size} values, not one number"
        if value.shape != (1,) or value.dtype.kind == "O":
            how = f"an array of shape {value.shape} and dtype {value.dtype}"
        value = value.reshape(-1)[0]
    elif isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None, f"a {type(value).__name__} of {len(value)} values, not one number"
        how, value = f"a {type(value).__name__} of one value", value[0]
    number, note = _scalar_whole(value, bools)
    return number, "; ".join(part for part in (how, note) if part)


def _scalar_whole(value: Any, bools: bool) -> tuple[int | None, str]:
    if isinstance(value, (bool, np.bool_)):
        return (int(value), "") if bools else (None, "a boolean, not a number")
    if isinstance(value, (int, np.integer)):
        return int(value), ""
    if isinstance(value, (str, bytes)):
        text = (value.decode("utf-8", "replace") if isinstance(value, bytes) else value).strip()
        if len(text) > MAX_NUMBER_TEXT:
            return None, "a long string, not a number"
        for parse in (int, float):
            try:
                number, note = _scalar_whole(parse(text), bools=False)
            except ValueError:
                continue
            return number, f"a string; {note}" if number is None else f"a string, read as {shown(number)}"
        return None, "a string that is not a number"
    if isinstance(value, np.floating):
        value = float(value)  # so the comparisons below do not cast 2**63 to float16
    if isinstance(value, (float, Fraction, Decimal)):
        finite = value.is_finite() if isinstance(value, Decimal) else isinstance(value, Fraction) or math.isfinite(value)
        if not finite:
            return None, "not a finite number"
        if abs(value) > _HUGE:  # flooring a huge Decimal would make a 100,000-digit int
            whole = _HUGE if value > 0 else -_HUGE
            return whole, f"a {type(value).__name__} beyond +-(2**63-1), read as {whole}"
        whole = math.floor(value)
        if whole != value:
            return whole, f"not a whole number; rounded down to {shown(whole)}"
        return whole, f"a {type(value).__name__}, read as {shown(whole)}"
    if isinstance(value, (complex, np.complexfloating)):
        return None, "a complex number, not a real one"
    return None, f"not a number (a {type(value).__name__})"


def encodable(text: str) -> tuple[str, int]:
    """``text`` with every code point UTF-8 cannot encode replaced by U+FFFD, and how many."""
    return _SURROGATES.subn("\ufffd", text)


def shown(value: Any) -> Any:
    """A value as an event may hold it: JSON-able (no NaN, no huge int), UTF-8-encodable, bounded."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, (int, np.integer)):
        number = int(value)
        return number if -(2**63) <= number < 2**63 else f"an integer of {number.bit_length()} bits"
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else repr(float(value))
    if isinstance(value, str):
        if len(value) <= MAX_SHOWN:
            return encodable(value)[0]
        return f"{encodable(value[:MAX_SHOWN])[0]}... ({len(value)} characters)"
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value[: MAX_SHOWN + 1])
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr raises is still recorded, by its type
        text = f"<a {type(value).__name__}>"
    text = encodable(text)[0]
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}..."
