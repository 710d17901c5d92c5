"""The agent's prompt text, all of it from the scenario file (``prompts`` and ``personas``).

``FIELDS`` lists every template the agent uses and the fields it passes to each (the
scenario's vocabulary fields come on top). ``Prompts`` checks a scenario against it once,
when the agent is created, so a bad scenario file fails with a message naming the
template instead of half-way through a run.
"""

from __future__ import annotations

import string
from typing import Sequence

from envs.commons_v0 import month_date
from govsim.config import RunConfig
from govsim.scenarios import Scenario

from agents.generative.memory import Memory

FIELDS: dict[str, set[str]] = {
    # the system message of every request
    "system": {"name", "others", "capacity", "collapse", "communication", "persona"},
    "communication": set(),  # the system prompt's sentence about the meetings (empty without them)
    "no_others": set(),  # {others} when the agent is alone
    # decisions
    "harvest": {"date", "memories", "observation"},
    "harvest_retry": set(),
    "converse": {"name", "date", "present", "others", "memories", "conversation"},
    "converse_retry": {"others"},
    "converse_end": set(),
    "converse_next": {"others"},
    "summarize": {"conversation"},
    "summarize_retry": set(),
    "reflect": {"name", "memories", "count"},
    "reflect_retry": {"count"},
    "importance": {"name", "memory"},
    # how memories are written and listed
    "memory_line": {"index", "date", "text"},
    "nothing_remembered": set(),
    "memory_chat": {"speaker", "text"},
    "memory_said": {"text"},
    "memory_planned": {"amount"},
    "memory_summary": {"summary"},
}


class Prompts:
    """Fills the scenario's templates for one agent."""

    def __init__(self, scenario: Scenario, config: RunConfig, name: str, persona: str | None) -> None:
        check(scenario)
        self.scenario = scenario
        self.config = config
        self.name = name
        # a KeyError here names the persona and the known ones
        self.persona = scenario.persona(persona, name=name) if persona else ""

    def render(self, key: str, **fields: object) -> str:
        return self.scenario.prompt(key, **fields)

    def system(self, present: Sequence[str]) -> str:
        others = [p for p in present if p != self.name]
        collapse = self.config.collapse_below
        return self.render(
            "system",
            name=self.name,
            others=", ".join(others) if others else self.render("no_others"),
            capacity=self.config.capacity,
            collapse=int(collapse) if float(collapse).is_integer() else collapse,
            communication=self.render("communication") if self.config.communication else "",
            persona=self.persona,
        ).strip()

    def memories(self, memories: Sequence[Memory]) -> str:
        """A numbered list (numbers from 1, as reflection cites them), or the 'nothing' line."""
        if not memories:
            return self.render("nothing_remembered")
        return "\n".join(
            self.render("memory_line", index=i, date=month_date(m.month), text=m.text)
            for i, m in enumerate(memories, start=1)
        )


def check(scenario: Scenario) -> None:
    """Raise ValueError naming the first missing template or unknown field."""
    vocab = set(scenario.vocabulary.model_dump())
    for key, allowed in FIELDS.items():
        if key not in scenario.prompts:
            raise ValueError(f"scenario {scenario.name!r}: the generative agent needs prompts.{key}")
        used = {f for _, f, _, _ in string.Formatter().parse(scenario.prompts[key]) if f}
        unknown = used - allowed - vocab
        if unknown:
            raise ValueError(
                f"scenario {scenario.name!r}: prompts.{key} uses unknown field(s) {sorted(unknown)}; "
                f"allowed: {sorted(allowed)} and the vocabulary"
            )
    for key, text in scenario.personas.items():
        unknown = {f for _, f, _, _ in string.Formatter().parse(text) if f} - vocab - {"name"}
        if unknown:
            raise ValueError(f"scenario {scenario.name!r}: personas.{key} uses unknown field(s) {sorted(unknown)}")
