"""Small pieces of wording shared by the env's sentences and the agents' prompts.

Neutral ground: the election's news, the talk's "who is present" and the human seat's
questions all name several people the same way, and none of them should import another's
module for it.
"""

from __future__ import annotations

from collections.abc import Sequence


def listing(names: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B, and C'."""
    if len(names) < 3:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]
