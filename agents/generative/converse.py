"""One turn at the town meeting: what to say, whether the talk is over, who speaks next.

Prompt: the system message, then ``converse`` (fields ``name``, ``date``, ``present``,
``others``: whom the agent may name next, i.e. its neighbours present on the
communication network, everyone else on the default complete one; ``memories``,
``conversation``: the mayor's report and the turns it heard).
The reply's three lines are read separately:

- 'Response: ...' is required; a retry follows up with ``converse_retry`` under a regex
  constraint for the whole format. If no attempt has one: fallback, the reply itself with
  the format lines removed becomes the utterance (possibly empty), the talk is not ended
  and the next speaker is drawn at random from the others (one ``fallback`` event).
- 'Conversation conclusion by me: yes|no' missing: a follow-up question ``converse_end``
  with the choice yes/no. Fallback: no (the env still ends the talk after
  ``max_utterances``).
- 'Next speaker: NAME' missing or not one of the others: a follow-up question
  ``converse_next`` with the choice of names. Fallback: a random other (the agent's RNG).
  With only one other there is nothing to choose and nothing is asked; with none (an
  isolated agent on a network) there is no next speaker and the env ends the talk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from govsim.llm.base import Constraint, Message

from agents.generative.asking import Asker, chat, continued
from agents.generative.templates import Prompts

RESPONSE = re.compile(r"response\s*:\s*(.*?)(?=\n\s*\**\s*(?:conversation conclusion|next speaker)|\Z)", re.I | re.S)
CONCLUSION = re.compile(r"conclusion[^:\n]*:\s*\W*(yes|no)\b", re.I)
NEXT = re.compile(r"next speaker\s*:\s*([^\n]*)", re.I)
TAIL_LINE = re.compile(r"^\W*(?:conversation conclusion[^:\n]*|next speaker)\s*:.*(?:\n|$)", re.I | re.M)
RESPONSE_TAG = re.compile(r"^\W*response\s*:\s*", re.I | re.M)
MAX_ANSWER_TOKENS = 8  # the follow-up questions want one word
MAX_UTTERANCE_CHARS = 1000
CONSTRAINED_CHARS = 400  # the response a retry's regex allows: short enough to fit max_tokens


@dataclass
class Turn:
    utterance: str
    end: bool | None  # None: not given
    next_speaker: str | None  # None: not given, or not one of the others


def name_in(text: str, names: Sequence[str]) -> str | None:
    """The first of ``names`` that appears in text as a word (earliest position wins)."""
    hits = [(m.start(), n) for n in names for m in [re.search(rf"\b{re.escape(n)}\b", text, re.I)] if m]
    return min(hits)[1] if hits else None


def parse_turn(text: str, others: Sequence[str]) -> Turn | None:
    """The turn, or None when there is no 'Response:' with something said."""
    response = RESPONSE.search(text)
    utterance = response.group(1).strip().strip('"').strip() if response else ""
    if not utterance:
        return None
    conclusion = CONCLUSION.search(text)
    nxt = NEXT.search(text)
    return Turn(
        utterance=utterance[:MAX_UTTERANCE_CHARS],
        end=conclusion.group(1).lower() == "yes" if conclusion else None,
        next_speaker=name_in(nxt.group(1), others) if nxt else None,
    )


def parse_yes_no(text: str) -> bool | None:
    match = re.search(r"\b(yes|no)\b", text, re.I)
    return match.group(1).lower() == "yes" if match else None


def turn_constraint(others: Sequence[str]) -> Constraint:
    regex = rf"Response: [^\n]{{1,{CONSTRAINED_CHARS}}}\nConversation conclusion by me: (yes|no)"
    if others:
        regex += "\nNext speaker: (" + "|".join(re.escape(n) for n in others) + ")"
    return Constraint(regex=regex)


async def speak(
    asker: Asker,
    prompts: Prompts,
    rng: np.random.Generator,
    system: str,
    *,
    date: str,
    present: Sequence[str],
    others: Sequence[str],
    memories: str,
    conversation: str,
    month: int,
) -> Turn:
    """The agent's turn; every missing part is asked again or replaced with a reported fallback."""
    others = list(others)
    listed = ", ".join(others)
    messages: list[Message] = chat(
        system,
        prompts.render(
            "converse",
            name=prompts.name,
            date=date,
            present=", ".join(present),
            others=listed,
            memories=memories,
            conversation=conversation,
        ),
    )
    reply = await asker.ask(
        "converse",
        messages,
        lambda text: parse_turn(text, others),
        month=month,
        constraint=turn_constraint(others),
        follow_up=lambda text: continued(messages, text, prompts.render("converse_retry", others=listed)),
    )
    if reply.value is None:
        utterance = RESPONSE_TAG.sub("", TAIL_LINE.sub("", reply.text)).strip()[:MAX_UTTERANCE_CHARS]
        nxt = str(rng.choice(others)) if others else None
        used = {"utterance": utterance, "end_conversation": False, "next_speaker": nxt}
        asker.fallback("converse", used, "no 'Response:' in the reply; said the reply as it was", month)
        return Turn(utterance, False, nxt)
    turn = reply.value
    asked: list[Message] = [*messages, {"role": "assistant", "content": reply.text}]
    if turn.end is None:
        answer = await asker.ask(
            "converse_end",
            [*asked, {"role": "user", "content": prompts.render("converse_end")}],
            parse_yes_no,
            month=month,
            constraint=Constraint(choice=("yes", "no")),
            constrain_first=True,
            max_tokens=MAX_ANSWER_TOKENS,
        )
        turn.end = answer.value if answer.value is not None else False
        if answer.value is None:
            asker.fallback("converse_end", False, "no yes/no in the reply; the talk goes on", month)
    if turn.next_speaker is None and others:
        turn.next_speaker = others[0] if len(others) == 1 else await _ask_next(asker, prompts, asked, others, month, rng)
    return turn


async def _ask_next(
    asker: Asker, prompts: Prompts, asked: list[Message], others: list[str], month: int, rng: np.random.Generator
) -> str:
    answer = await asker.ask(
        "converse_next",
        [*asked, {"role": "user", "content": prompts.render("converse_next", others=", ".join(others))}],
        lambda text: name_in(text, others),
        month=month,
        constraint=Constraint(choice=tuple(others)),
        constrain_first=True,
        max_tokens=MAX_ANSWER_TOKENS,
    )
    if answer.value is not None:
        return answer.value
    chosen = str(rng.choice(others))
    asker.fallback("converse_next", chosen, "no other agent named in the reply; drew one at random", month)
    return chosen
