"""The election: candidates state an agenda, everyone votes, the winner leads for a term.

In the first month of every term (months 1, 1 + term, 1 + 2 term, ...; ``election.term``,
3 by default) two phases come before the harvest:

1. AGENDA: every candidate present (``election.candidates``; all present by default)
   states an agenda: the per-person limit it would set (``agenda_limit``, -1 for none)
   and one sentence (``agenda``). Event ``agenda`` for each.
2. VOTE: everyone present votes for one candidate (``vote``: a name, or a seat index as
   the action space gives it). A vote that is missing or names no candidate present is
   invalid: a ``vote`` event with ``valid: false`` and its reason, and an
   ``invalid_action``. The most valid votes win; a tie (every candidate ties when no vote
   is valid) is broken by a draw from the env's seeded RNG, and the ``election`` event
   says so (``tie``, ``tied``). The winner's agenda limit becomes the limit in force.

While a leader stands, the harvest text announces its limit (event ``limit_announced``
before every harvest), and the leader chairs the talk: it speaks first and, as scribe,
sums the talk up and names the limit in force for next month (the env's ``chair``).
Without communication the agenda's limit stands for the whole term.

Observation keys: ``leader`` (seat index; the number of seats when none), ``candidates``
(a 0/1 mask in seat order) and ``agendas`` (text). Info keys: ``leader``, ``candidates``,
``agendas`` (a list of ``{candidate, limit, text}``), ``term_end``, and at the harvest
``announcement`` (the sentences on the leader and its limit).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from gymnasium import spaces

from govsim.institutions import Institution
from govsim.phases import NO_LIMIT, Phase
from govsim.wording import listing

AGENDA = "agenda"  # action: a candidate's sentence
AGENDA_LIMIT = "agenda_limit"  # action: the per-person limit a candidate proposes (NO_LIMIT: none)
VOTE = "vote"  # action: the candidate voted for (a name or a seat index)
MAX_AGENDA = 2000  # characters of an agenda sentence in the action space
MAX_TEXT = 8192  # characters of the agendas observation


class Election(Institution):
    name = "election"
    placement = {Phase.AGENDA: Phase.HARVEST, Phase.VOTE: Phase.HARVEST}
    keys = {Phase.AGENDA: (AGENDA_LIMIT, AGENDA), Phase.VOTE: (VOTE,)}
    sentences = {
        "election_called": {"term", "candidates"},
        "agenda_line": {"name", "limit", "text"},
        "agenda_line_no_limit": {"name", "text"},
        "leader_elected": {"name", "votes", "voters", "term"},
        "election_tie": {"tied", "name"},
        "leader_limit": {"name", "limit"},
        "leader_no_limit": {"name"},
    }
    scripted = {"agenda": {"limit"}, "agenda_no_limit": set(), "summary_kept": {"limit"}}

    def __init__(self, host) -> None:
        super().__init__(host)
        self.settings = host.config.election
        self.reset()

    def reset(self) -> None:
        self.leader: str | None = None
        self.term_end = 0
        self.elected_month = 0
        self.agendas: dict[str, dict[str, Any]] = {}  # the last election's, by candidate
        self.outcome: dict[str, Any] = {}  # the last election event's fields (for the harvest text)

    # ------------------------------------------------------------------ spaces

    def observation_spaces(self) -> dict[str, spaces.Space]:
        seats = len(self.host.possible_agents)
        return {
            "leader": spaces.Discrete(seats + 1),
            "candidates": spaces.MultiBinary(seats),
            "agendas": self.host.text_space(MAX_TEXT),
        }

    def action_spaces(self) -> dict[str, spaces.Space]:
        return {
            AGENDA: self.host.words_space(MAX_AGENDA),
            AGENDA_LIMIT: self.host.amount_space(NO_LIMIT),
            VOTE: self.host.seat_space(),
        }

    # ------------------------------------------------------------------ the month

    def candidates(self) -> list[str]:
        """The candidates present, in seat order."""
        standing = self.settings.candidates
        return [a for a in self.host.agents if standing is None or a in standing]

    def election_month(self) -> bool:
        return (self.host.month - 1) % self.settings.term == 0

    def runs(self, phase: Phase) -> bool:
        if phase == Phase.AGENDA:
            return self.election_month()
        return phase == Phase.VOTE and self.election_month()

    def acting(self, phase: Phase, agent: str) -> bool:
        return agent in self.candidates() if phase == Phase.AGENDA else True

    def begin(self, phase: Phase) -> None:
        if phase == Phase.AGENDA:
            self.agendas = {}
        if phase == Phase.HARVEST and self.leader is not None:
            self.host.event("limit_announced", agent=self.leader, limit=self.host.agreed_limit)

    def step(self, phase: Phase, actions: dict[str, Any]) -> dict[str, float]:
        if phase == Phase.AGENDA:
            self._agendas(actions)
        elif phase == Phase.VOTE:
            self._vote(actions)
        return {}

    def _agendas(self, actions: dict[str, Any]) -> None:
        host = self.host
        for candidate in self.candidates():
            action = actions.get(candidate)
            limit = host.read_amount(candidate, action, AGENDA_LIMIT, NO_LIMIT, host.config.capacity, NO_LIMIT)
            text = host.read_text(candidate, action, AGENDA)
            self.agendas[candidate] = {"limit": limit, "text": text}
            host.event("agenda", agent=candidate, limit=limit, text=text)

    def _vote(self, actions: dict[str, Any]) -> None:
        host = self.host
        candidates = [c for c in self.candidates() if c in self.agendas]
        tally: Counter[str] = Counter()
        invalid = 0
        for voter in host.agents:
            action = actions.get(voter)
            value = host.read_field(voter, action, VOTE)  # a missing vote is recorded there
            name = None if value is None else host.seat_named(value)
            if name in candidates:
                tally[name] += 1
                host.event("vote", agent=voter, candidate=name, valid=True)
                continue
            invalid += 1
            if value is None:
                reason = "no vote given"
            else:
                reason = f"not a candidate present ({', '.join(candidates)}); the vote is invalid"
                host.flag_invalid(voter, VOTE, value, reason)
            host.event("vote", agent=voter, candidate=None, valid=False, reason=reason)
        best = max(tally.values(), default=0)
        tied = [c for c in candidates if tally[c] == best]
        leader = tied[int(host.rng.integers(len(tied)))] if len(tied) > 1 else tied[0]
        self.leader = leader
        self.elected_month = host.month
        self.term_end = min(host.month + self.settings.term - 1, host.config.months)
        host.agreed_limit = self.agendas[leader]["limit"]
        self.outcome = {
            "leader": leader, "votes": {c: tally[c] for c in candidates}, "invalid": invalid,
            "tie": len(tied) > 1, "tied": tied if len(tied) > 1 else [], "term_end": self.term_end,
            "limit": host.agreed_limit,
        }
        host.event("election", **self.outcome)

    def chair(self) -> str | None:
        return self.leader if self.leader in self.host.agents else None

    # ------------------------------------------------------------------ what agents see

    def harvest_limit_lines(self, agent: str) -> list[str] | None:
        if self.leader is None:
            return None
        say, lines = self.host.scenario.say, []
        if self.elected_month == self.host.month and self.outcome:
            if self.outcome["tie"]:
                lines.append(say("election_tie", tied=listing(self.outcome["tied"]), name=self.leader))
            votes = self.outcome["votes"][self.leader]
            lines.append(say("leader_elected", name=self.leader, votes=votes, voters=len(self.host.agents),
                             term=self.settings.term))
        limit = self.host.agreed_limit
        if limit == NO_LIMIT:
            lines.append(say("leader_no_limit", name=self.leader))
        else:
            lines.append(say("leader_limit", name=self.leader, limit=limit))
        return lines

    def agenda_lines(self) -> list[str]:
        say = self.host.scenario.say
        return [
            say("agenda_line_no_limit", name=c, text=a["text"]) if a["limit"] == NO_LIMIT
            else say("agenda_line", name=c, limit=a["limit"], text=a["text"])
            for c, a in self.agendas.items()
        ]

    def describe(self, agent: str) -> list[str]:
        phase = self.host.phase
        if phase not in (Phase.AGENDA, Phase.VOTE):
            return []
        called = self.host.scenario.say("election_called", term=self.settings.term, candidates=listing(self.candidates()))
        return [called, *(self.agenda_lines() if phase == Phase.VOTE else [])]

    def observe(self, agent: str) -> dict[str, Any]:
        seats = self.host.possible_agents
        standing = set(self.candidates())
        return {
            "leader": seats.index(self.leader) if self.leader is not None else len(seats),
            "candidates": np.array([int(s in standing) for s in seats], dtype=np.int8),
            "agendas": self.host.sanitize("\n".join(self.agenda_lines())),
        }

    def info(self, agent: str) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "candidates": self.candidates(),
            "agendas": [{"candidate": c, **a} for c, a in self.agendas.items()],
            "term_end": self.term_end or None,
            # the harvest's sentences on the leader and its limit, while they are told
            "announcement": (self.harvest_limit_lines(agent) or []) if self.host.phase == Phase.HARVEST else [],
        }

    # ------------------------------------------------------------------ resuming

    def state_dict(self) -> dict[str, Any]:
        return {
            "leader": self.leader, "term_end": self.term_end, "elected_month": self.elected_month,
            "agendas": self.agendas, "outcome": self.outcome,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.leader = state["leader"]
        self.term_end = state["term_end"]
        self.elected_month = state["elected_month"]
        self.agendas = state["agendas"]
        self.outcome = state["outcome"]
