"""The phases of a month and the keys of observations and actions.

The one place where the environment and the agents agree on what a step asks for.

A month is a sequence of phases (``month_plan``): the base month HARVEST, DISCUSSION,
SUMMARY, REFLECTION, with the phases of the institutions the config names
(``institutions: [election, sanctions]``, see ``govsim.institutions``) put in before the
base phase each names. A phase of the plan may not run in a given month (the talk
without communication or alone, an election outside its term's first month); the env
asks each phase's owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum


class Phase(IntEnum):
    """What the acting agents are asked for in this step.

    A month runs HARVEST, then DISCUSSION (one speaker per step, at most N utterances),
    then SUMMARY (the scribe summarises and names the agreed limit), then REFLECTION.
    Without communication it is HARVEST then REFLECTION. DONE marks a finished episode.
    The institutions' phases (AGENDA and VOTE of the election, SANCTION of the sanctions)
    come after DONE in number, so the base phases keep the numbers they always had.
    """

    HARVEST = 0
    DISCUSSION = 1
    SUMMARY = 2
    REFLECTION = 3
    DONE = 4
    AGENDA = 5  # election: candidates state a limit and a sentence
    VOTE = 6  # election: everyone present votes for a candidate
    SANCTION = 7  # sanctions: each may pay to fine those over the limit

    @property
    def label(self) -> str:
        return self.name.lower()


BASE_MONTH = (Phase.HARVEST, Phase.DISCUSSION, Phase.SUMMARY, Phase.REFLECTION)


def month_plan(placements: Iterable[Mapping[Phase, Phase]]) -> tuple[Phase, ...]:
    """The month's phases: the base month with each institution's phases put in before the
    base phase it names (``{Phase.AGENDA: Phase.HARVEST}``), in the institutions' order."""
    plan = list(BASE_MONTH)
    for placement in placements:
        for phase, before in placement.items():
            if phase in plan:
                raise ValueError(f"phase {phase.label} is placed twice")
            plan.insert(plan.index(before), phase)
    return tuple(plan)


# Action keys: an action is a dict; the env reads only the keys the current phase asks for.
HARVEST = "harvest"
UTTERANCE = "utterance"
NEXT_SPEAKER = "next_speaker"
END_CONVERSATION = "end_conversation"
SUMMARY = "summary"
AGREED_LIMIT = "agreed_limit"
REFLECTION = "reflection"

ACTION_KEYS: dict[Phase, tuple[str, ...]] = {
    Phase.HARVEST: (HARVEST,),
    Phase.DISCUSSION: (UTTERANCE, END_CONVERSATION, NEXT_SPEAKER),
    Phase.SUMMARY: (SUMMARY, AGREED_LIMIT),
    Phase.REFLECTION: (REFLECTION,),
}
"""The action keys each base phase reads, in the order they are asked (a person at a seat, a
fuzzer). With the institutions' phases: ``govsim.institutions.action_keys()`` (which imports
this module)."""

NO_LIMIT = -1
"""The value of an agreed limit when the discussion agreed on none ("N/A")."""


class Purpose:
    """The ``purpose`` tag of each kind of LLM call the generative agent makes, as run logs
    record it (``llm_call``, ``parse_failure`` and ``fallback`` events): the agent asks with
    these, the dashboard's decision traces and Re-ReST's reading of harvest decisions find
    the calls by them. Plain strings, as logged; the templates of most calls share the name."""

    HARVEST = "harvest"  # the harvest's reasoning, up to 'Answer:'
    HARVEST_AMOUNT = "harvest_amount"  # the amount, continuing after 'Answer: '
    CONVERSE = "converse"  # what the speaker says
    CONVERSE_END = "converse_end"  # whether the talk ends
    CONVERSE_NEXT = "converse_next"  # who speaks next
    SUMMARIZE = "summarize"  # the scribe's summary
    SUMMARIZE_LIMIT = "summarize_limit"  # the agreed limit it names
    REFLECT = "reflect"  # the month's insights
    THINK_PLAN = "think_plan"  # a plan after the talk
    THINK_MEMORIZE = "think_memorize"  # what to remember of the talk
    IMPORTANCE = "importance"  # a memory's importance rating
    AGENDA = "agenda"  # election: a candidate's agenda
    AGENDA_LIMIT = "agenda_limit"  # election: the limit it would set, continuing after 'Limit: '
    VOTE = "vote"  # election: the vote
    SANCTION = "sanction"  # sanctions: whether to fine one agent
    EMBEDDER = "embedder"  # not a call: the fallback to the hash embedder when MiniLM is missing
