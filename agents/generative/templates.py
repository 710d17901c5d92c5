"""The agent's prompt text, all of it from the scenario file (``prompts`` and ``personas``).

``FIELDS`` lists every template the agent uses and the fields it passes to each (the
scenario's vocabulary fields come on top). ``Prompts`` checks a scenario against it once,
when the agent is created, so a bad scenario file fails with a message naming the
template instead of half-way through a run.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.generative.memory import Memory
from govsim import templating
from govsim.config import RunConfig
from govsim.scenarios import Scenario

SYSTEM_FIELDS = {"name", "others", "capacity", "communication", "collapse_rule", "persona"}
SYSTEM_VARIANTS = {"v3": "system", "v3_p1": "system_v3_p1", "v3_p2": "system_v3_p2", "v3_p3": "system_v3_p3"}

FIELDS: dict[str, set[str]] = {
    # the system text that opens every request of the agent: the reference's v3 and its
    # three paraphrases (same facts, other words), chosen by the config's prompt_variant
    **{key: SYSTEM_FIELDS for key in SYSTEM_VARIANTS.values()},
    "communication": set(),  # the system text's sentence about the meetings (empty without them)
    "collapse_rule": {"collapse"},  # improvements.collapse_rule: the threshold told (the reference never does)
    "no_others": set(),  # {others} when the agent is alone
    # decisions
    "harvest": {"name", "date", "memories", "stock"},
    "converse": {"name", "date", "present", "memories", "conversation"},
    "conversation_line": {"line"},  # one entry of the conversation as prompts list it
    "summarize": {"conversation"},
    "summarize_limit": {"conversation"},
    "reflect": {"name", "memories"},
    "reflect_retry": set(),
    # how memories are written and listed
    "memory_line": {"index", "date", "text"},
    "nothing_remembered": set(),
    "memory_summary": {"summary"},
    # memory (importance, reflection, thoughts after the talk)
    "importance_event": {"name", "memory"},
    "importance_chat": {"name", "memory"},
    "importance_thought": {"name", "memory"},
    "importance_action": {"name", "memory"},
    "importance_answer": set(),  # the answer's opening, an open assistant turn the rating continues
    "think_plan": {"name", "conversation"},
    "think_memorize": {"name", "conversation"},
    "focus_harvest": set(),  # the focal point of the harvest's recall (the reference's location word)
    "focus_reflect": set(),  # the focal point of the home reflection's recall
    # the institutions' decisions (agenda.py, vote.py, sanction.py)
    "agenda": {"name", "date", "memories", "stock", "term", "candidates"},
    "vote": {"name", "date", "memories", "term", "agendas", "candidates"},
    "sanction": {"name", "date", "memories", "report", "limit", "target", "caught", "cost", "fine"},
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
        """The system text: every seat of the run named, as the reference names all five
        (``improvements.present_names_only``: only those present), the config's variant."""
        opts = self.config.opts
        seats = present if opts.present_names_only else [seat.name for seat in self.config.agents]
        others = [p for p in seats if p != self.name]
        collapse = self.config.collapse_below
        rule = self.render("collapse_rule", collapse=int(collapse) if float(collapse).is_integer() else collapse)
        return self.render(
            SYSTEM_VARIANTS[self.config.prompt_variant],
            name=self.name,
            others=", ".join(others) if others else self.render("no_others"),
            capacity=self.config.capacity,
            communication=self.render("communication") if self.config.communication else "",
            collapse_rule=rule if opts.collapse_rule else "",
            persona=self.persona,
        ).strip()

    def conversation(self, lines: Sequence[str]) -> str:
        """The talk as prompts list it, one entry a line (the env has already quoted what agents said)."""
        return "\n".join(self.render("conversation_line", line=line) for line in lines)

    def memories(self, memories: Sequence[Memory]) -> str:
        """A numbered list (numbers from 1, as reflection cites them), or the 'nothing' line."""
        if not memories:
            return self.render("nothing_remembered")
        return "\n".join(
            self.render("memory_line", index=i, date=m.day, text=m.text)
            for i, m in enumerate(memories, start=1)
        )


def check(scenario: Scenario) -> None:
    """Raise ValueError naming the first missing template or unknown field."""
    vocab = set(scenario.vocabulary.model_dump())
    where = f"scenario {scenario.name!r}"
    for key, allowed in FIELDS.items():
        if key not in scenario.prompts:
            raise ValueError(f"{where}: the generative agent needs prompts.{key}")
        templating.check(scenario.prompts[key], f"{where}: prompts.{key}", allowed, vocab)
    for key, text in scenario.personas.items():
        templating.check(text, f"{where}: personas.{key}", {"name"}, vocab)
