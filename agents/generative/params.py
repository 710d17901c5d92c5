"""The generative agent's seat parameters (``agents: [{name: ..., type: generative, params: {...}}]``).

Parsed before the agent is built (``agents.params``): an unknown key or a bad value is one
line naming it and the keys below.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agents.params import AgentParams


class GenerativeParams(AgentParams):
    embedder: Literal["auto", "minilm", "hash"] = "auto"
    """``auto``: MiniLM if installed, else the hash embedder, reported as a ``fallback``."""
    importance: float | None = Field(None, ge=1, le=10)
    """A fixed rating 1-10 for every memory instead of asking the model (one call fewer per memory)."""
    recall: int = 10
    """How many memories a harvest (and an agenda, a vote, a sanction) recalls: the reference's 10."""
    recall_talk: int = 5
    """How many memories each focal point of a turn at the meeting recalls."""
    reflect_on: int = 10
    """How many memories reflection recalls and reflects on."""
    insights: int | None = None
    """At most this many insights a month (None: as many as the model lists, at most one per memory recalled)."""
