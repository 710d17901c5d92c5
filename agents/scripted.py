"""Scripted agents: fixed harvesting rules behind the same interface as the LLM agents.

They also take part in the discussion with the scenario's templated sentences (its
``scripted`` section): each proposes a per-person limit (or none), hands the word to the
next neighbour who has not spoken, and ends the talk once all it can reach have spoken. As scribe, a scripted
agent reports the limit most speakers proposed. So a scripted run exercises every phase.

- ``greedy``: asks for the whole stock.
- ``sustainable``: asks for f(h), the most each can take without shrinking the stock.
- ``fixed``: asks for ``params.amount`` (default 10).
- ``random``: asks for a uniform amount in [0, stock].
- ``conditional``: follows the agreed limit when one stands, else asks for f(h)
  (``params.default`` overrides that amount).

Under the institutions (``govsim.institutions``) they act by simple rules too, so a
scripted society exercises every phase:

- election, AGENDA: a candidate that proposes limits (sustainable, conditional) stands for
  the share that keeps the commons at full regrowth, the others for no limit (the
  scenario's ``scripted.agenda`` / ``agenda_no_limit``). VOTE: each votes for the agenda
  nearest its own (no limit counts as more than the capacity), the first in seat order on
  a tie; ``random`` votes for a random candidate. A leader that is scribe keeps the limit
  in force when the talk shows no majority for another.
- sanctions, SANCTION: those that propose limits fine everyone they may (all seen over the
  limit); ``random`` fines each of them with probability 1/2; ``greedy`` and ``fixed``
  fine nobody. Deterrence: once fined, every type but ``greedy`` never asks for more than
  the limit in force.

Each built-in type takes only the params listed (its ``Params``, see ``agents.params``); an
unknown or bad one, or a scenario without the ``scripted`` lines they say, fails before the
run and when the agent is built. A subclass from a plugin sets its own ``Params``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pydantic import Field

from agents.base import Agent, AgentContext
from agents.params import AgentParams
from govsim.dynamics import sustainability_threshold
from govsim.institutions.election import AGENDA, AGENDA_LIMIT, VOTE, Election
from govsim.institutions.sanctions import SANCTION
from govsim.phases import (
    AGREED_LIMIT,
    END_CONVERSATION,
    HARVEST,
    NEXT_SPEAKER,
    NO_LIMIT,
    REFLECTION,
    SUMMARY,
    UTTERANCE,
    Phase,
)
from govsim.scenarios import SCRIPTED_FIELDS

_PROPOSAL = re.compile(r"at most (\d+)")


class FixedParams(AgentParams):
    amount: int = Field(10, ge=0, strict=True)


class ConditionalParams(AgentParams):
    default: int | None = Field(None, ge=0, strict=True)  # None: f(h)


class ScriptedAgent(Agent):
    """Shared talking and reflecting; subclasses choose the amount."""

    proposes = True  # whether it proposes its sustainable amount as the limit (and fines those over one)
    deterrable = True  # whether a fine makes it keep to the limit from then on

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        needed = {*SCRIPTED_FIELDS, *(Election.scripted if "election" in ctx.config.institutions else ())}
        missing = sorted(needed - set(ctx.scenario.scripted))
        self.deterred = False
        if missing:
            raise ValueError(
                f"scenario {ctx.scenario.name!r} lacks scripted.{', scripted.'.join(missing)}: "
                f"the lines scripted agents say (agent {self.name}, type {ctx.seat.type!r})"
            )

    def amount(self, observation: dict[str, Any]) -> int:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "deterred": self.deterred}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.deterred = bool(state.get("deterred", False))

    def fair_share(self, observation: dict[str, Any]) -> int:
        cfg = self.ctx.config
        stock = int(observation["stock"][0])
        return sustainability_threshold(stock, max(1, int(observation["n_agents"])), cfg.capacity, cfg.regeneration)

    async def act(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        if self.deterrable and "fines_received" in observation and float(observation["fines_received"][0]) > 0:
            self.deterred = True
        if not info["acting"]:
            return {}
        phase = Phase(int(observation["phase"]))
        if phase == Phase.HARVEST:
            return {HARVEST: self._request(observation)}
        if phase == Phase.DISCUSSION:
            return self._speak(observation, info)
        if phase == Phase.SUMMARY:
            return self._summarize(observation, info)
        if phase == Phase.AGENDA:
            return self._agenda(observation)
        if phase == Phase.VOTE:
            return {VOTE: self._vote(observation, info)}
        if phase == Phase.SANCTION:
            return {SANCTION: self._sanction(info)}
        if phase == Phase.REFLECTION:
            line = self.ctx.scenario.scripted_line("reflection", caught=int(observation["caught"][0]))
            return {REFLECTION: line}
        return {}

    def _request(self, observation: dict[str, Any]) -> int:
        amount = int(self.amount(observation))
        limit = int(observation["agreed_limit"][0])
        return min(amount, limit) if self.deterred and limit != NO_LIMIT else amount

    def _agenda(self, observation: dict[str, Any]) -> dict[str, Any]:
        say = self.ctx.scenario.scripted_line
        if not self.proposes:
            return {AGENDA_LIMIT: NO_LIMIT, AGENDA: say("agenda_no_limit")}
        limit = self._proposed_limit(observation)
        return {AGENDA_LIMIT: limit, AGENDA: say("agenda", limit=limit)}

    def _vote(self, observation: dict[str, Any], info: dict[str, Any]) -> str:
        agendas = info["agendas"]
        unlimited = self.ctx.config.capacity + 1
        mine = self._proposed_limit(observation) if self.proposes else unlimited
        distance = [abs((unlimited if a["limit"] == NO_LIMIT else a["limit"]) - mine) for a in agendas]
        return agendas[distance.index(min(distance))]["candidate"]

    def _sanction(self, info: dict[str, Any]) -> list[str]:
        return list(info["sanctionable"]) if self.proposes else []

    def _speak(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        present: list[str] = info["present"]
        caught = int(observation["caught"][0])
        say = self.ctx.scenario.scripted_line
        if self.proposes:
            text = say("propose", caught=caught, limit=self._proposed_limit(observation))
        else:
            text = say("no_proposal", caught=caught)
        reachable = info.get("neighbours", [a for a in present if a != self.name])  # whom it may name
        spoken = {turn["speaker"] for turn in info["conversation"]} | {self.name}
        waiting = [a for a in reachable if a not in spoken]
        nxt = waiting[0] if waiting else reachable[0]
        return {
            UTTERANCE: text,
            NEXT_SPEAKER: [seat.name for seat in self.ctx.config.agents].index(nxt),
            END_CONVERSATION: int(not waiting),
        }

    def _proposed_limit(self, observation: dict[str, Any]) -> int:
        """The limit it proposes: the share that keeps the commons at full regrowth."""
        return sustainability_threshold(
            self.ctx.config.capacity, max(1, int(observation["n_agents"])), self.ctx.config.capacity,
            self.ctx.config.regeneration,
        )

    def _summarize(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        proposals = [int(m.group(1)) for t in info["conversation"] for m in [_PROPOSAL.search(t["text"])] if m]
        counts = Counter(proposals).most_common(1)
        say = self.ctx.scenario.scripted_line
        standing = int(observation["agreed_limit"][0])
        if counts and counts[0][1] * 2 > len(info["conversation"]):
            limit = counts[0][0]
            proposal = say("summary_limit", limit=limit)
        elif info.get("leader") == self.name and standing != NO_LIMIT:  # a leader keeps its limit
            limit, proposal = standing, say("summary_kept", limit=standing)
        else:
            limit, proposal = NO_LIMIT, say("summary_none")
        return {SUMMARY: say("summary", proposal=proposal), AGREED_LIMIT: limit}


class Greedy(ScriptedAgent):
    proposes = False
    deterrable = False
    Params = AgentParams

    def amount(self, observation: dict[str, Any]) -> int:
        return int(observation["stock"][0])


class Sustainable(ScriptedAgent):
    Params = AgentParams

    def amount(self, observation: dict[str, Any]) -> int:
        return self.fair_share(observation)


class Fixed(ScriptedAgent):
    proposes = False
    Params = FixedParams
    params: FixedParams

    def amount(self, observation: dict[str, Any]) -> int:
        return self.params.amount


class Random(ScriptedAgent):
    proposes = False
    Params = AgentParams

    def amount(self, observation: dict[str, Any]) -> int:
        return int(self.ctx.rng.integers(0, int(observation["stock"][0]) + 1))

    def _vote(self, observation: dict[str, Any], info: dict[str, Any]) -> str:
        agendas = info["agendas"]
        return agendas[int(self.ctx.rng.integers(len(agendas)))]["candidate"]

    def _sanction(self, info: dict[str, Any]) -> list[str]:
        return [t for t in info["sanctionable"] if self.ctx.rng.random() < 0.5]


class Conditional(ScriptedAgent):
    Params = ConditionalParams
    params: ConditionalParams

    def amount(self, observation: dict[str, Any]) -> int:
        limit = int(observation["agreed_limit"][0])
        if limit != NO_LIMIT:
            return limit
        return self.fair_share(observation) if self.params.default is None else self.params.default
