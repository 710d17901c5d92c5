"""The phases of a month and the keys of observations and actions.

The one place where the environment and the agents agree on what a step asks for.
"""

from __future__ import annotations

from enum import IntEnum


class Phase(IntEnum):
    """What the acting agents are asked for in this step.

    A month runs HARVEST, then DISCUSSION (one speaker per step, at most N utterances),
    then SUMMARY (the scribe summarises and names the agreed limit), then REFLECTION.
    Without communication it is HARVEST then REFLECTION. DONE marks a finished episode.
    """

    HARVEST = 0
    DISCUSSION = 1
    SUMMARY = 2
    REFLECTION = 3
    DONE = 4

    @property
    def label(self) -> str:
        return self.name.lower()


# Action keys: an action is a dict; the env reads only the keys the current phase asks for.
HARVEST = "harvest"
UTTERANCE = "utterance"
NEXT_SPEAKER = "next_speaker"
END_CONVERSATION = "end_conversation"
SUMMARY = "summary"
AGREED_LIMIT = "agreed_limit"
REFLECTION = "reflection"

NO_LIMIT = -1
"""The value of an agreed limit when the discussion agreed on none ("N/A")."""
