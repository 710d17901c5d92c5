"""commons_v0: GovSim's shared-resource commons as a PettingZoo environment.

| Import             | `from envs import commons_v0`                                                  |
|--------------------|--------------------------------------------------------------------------------|
| Actions            | Dict: amounts, yes/no, seat names, text; each phase reads its own keys          |
| Parallel API       | Yes: `commons_v0.parallel_env(...)`; AEC: `commons_v0.env(...)`                 |
| Manual Control     | Yes: a `human` seat (`agents/human.py`); one seat as Gymnasium: `envs/seat_v0`  |
| Agents             | `agents= ['John', 'Kate', 'Jack', 'Emma', 'Luke']` (by default; config `agents`) |
| Agents             | 5 by default, 1 to 1000; a seat with `join_month` > 1 joins in that month       |
| Action Shape       | Dict of 7 keys, +3 with the election, +1 with sanctions                        |
| Action Values      | the tables of action keys below                                                |
| Observation Shape  | Dict of 12 keys, +3 with the election, +3 with sanctions                       |
| Observation Values | the table of observation keys below                                            |

A society of agents shares one renewable resource (fish in a lake, grass on a pasture,
clean water in a river: the scenario is data, see ``govsim/scenarios``); the paper is
Piatti et al., "Cooperate or Collapse" (NeurIPS 2024). Config keys are those of
``govsim.config.RunConfig`` (the Arguments below).

### The month

1. HARVEST: every agent present asks for an amount at once; the pool is allocated
   (``govsim.dynamics.allocate``) and each agent's reward is what it caught.
2. DISCUSSION (unless ``communication=False``): the mayor's public report of catches
   opens the talk, then one speaker per step: an utterance, whether the conversation is
   over, and who speaks next (anyone present, himself included, as in the reference;
   ``improvements.no_self_naming`` forbids himself). The first seat present speaks first
   (``improvements.random_first_speaker`` draws one). The talk has at most
   ``max_conversation_steps`` steps, the mayor's report counted (the reference's 10: at
   most 9 agent turns). With a communication network (config ``network``, see
   ``govsim.network``) other than ``complete``, talk follows its edges: a speaker may
   only name a present neighbour as the next speaker (any other name is replaced by the
   first present neighbour after it in seat order and recorded as an ``invalid_action``;
   with no neighbour present the discussion ends), and each agent hears, in its
   observation and ``infos["conversation"]``, only the utterances of its neighbours and
   its own. The mayor's report and the summary stay public; the scribe summarises what
   it heard. The complete network is the town hall: everyone hears everyone.
3. SUMMARY: the scribe (the first agent present) sums the talk up in one sentence and
   names the agreed per-person limit, or ``NO_LIMIT`` (-1).
4. REFLECTION: every agent may state its insights (recorded, not interpreted).
5. End of month (``_end_month``, in the same ``step`` as the month's last phase): the
   run ends if the stock fell below the collapse threshold, or after the last month;
   otherwise the stock regenerates and seats due to join do so.

The month is a sequence of phases (``env.plan``, from ``govsim.phases.month_plan``): the
four above, with the phases of the institutions the config names (``institutions:
[election, sanctions]``, see ``govsim.institutions``) put in where each belongs: the
election's AGENDA and VOTE before the harvest of a term's first month, the sanctions'
SANCTION after the harvest. Each institution adds its own observation, action and info
keys, events and sentences; under an election the leader opens the talk and is its
scribe, and its limit is announced before each harvest. A step plays the current phase;
when it is over the next phase of the plan that runs this month begins (the talk and
summary run with communication and more than one agent present).

### Observation keys

Every agent present gets the same Dict (``observation_space(agent)``); what it holds is
what that agent may see. Text is cut to 8192 characters (the oldest part first) and
characters outside the env's alphabet (``CHARSET``) become ``?``.

| key              | space                     | what it holds                                                      |
|------------------|---------------------------|--------------------------------------------------------------------|
| `phase`          | Discrete(8)               | 0 harvest, 1 discussion, 2 summary, 3 reflection, 4 done, 5-7: institutions' |
| `month`          | Discrete(months + 1)      | the month, from 1                                                  |
| `stock`          | Box(0, capacity, (1,))    | the resource now                                                   |
| `wanted`         | Box(0, capacity, (1,))    | what the agent asked for in this month's harvest (0 before it)     |
| `caught`         | Box(0, capacity, (1,))    | what it caught                                                     |
| `agreed_limit`   | Box(-1, capacity, (1,))   | the per-person limit in force; -1: none                            |
| `threshold`      | Box(-1, capacity, (1,))   | the sustainable threshold under ``universalization``; -1: not told |
| `n_agents`       | Discrete(seats + 1)       | agents present                                                     |
| `acting`         | Discrete(2)               | 1 if this step reads the agent's action                            |
| `report`         | Text(8192)                | the mayor's report of catches (the talk's first line)              |
| `conversation`   | Text(8192)                | the talk as this agent heard it, what was said quoted (JSON strings) |
| `text`           | Text(8192)                | everything it may see now, in the scenario's words                 |
| `leader`         | Discrete(seats + 1)       | election: the leader's seat index; seats: none                     |
| `candidates`     | MultiBinary(seats)        | election: who stands, a 0/1 mask in seat order                     |
| `agendas`        | Text(8192)                | election: the candidates' agendas                                  |
| `sanctionable`   | MultiBinary(seats)        | sanctions: whom this agent may fine now                            |
| `fines_received` | Box(0, fine * (seats-1))  | sanctions: fines it received this month                            |
| `sanction_costs` | Box(0, cost * (seats-1))  | sanctions: what it paid to fine this month                         |

### Action keys

Every step takes actions from all agents in ``env.agents``; only those with
``observation["acting"] == 1`` are read, and only the keys their phase asks for
(``govsim.phases`` and each institution's ``keys``). ``action_space(agent)`` is a Dict of
every key; each space (``envs/spaces.py``) is a Gymnasium space whose ``sample`` an RL
policy knows (a one-element array, a seat index, a 0/1 mask) and whose ``contains``
also holds what agents send: an ``int``, a seat's name, a list of names, any text.

| phase      | key                | space                | what an agent sends                                           |
|------------|--------------------|----------------------|---------------------------------------------------------------|
| harvest    | `harvest`          | Amount(0, capacity)  | how much to take; more than the stock is clipped to it         |
| discussion | `utterance`        | Words(2000)          | what the speaker says                                          |
| discussion | `end_conversation` | Flag()               | 1 or True: the talk ends after this utterance                  |
| discussion | `next_speaker`     | Seat(seats)          | one of ``infos[agent]["names"]`` (or a seat index); unread at the end |
| summary    | `summary`          | Words(2000)          | the scribe's summary of the talk                               |
| summary    | `agreed_limit`     | Amount(-1, capacity) | the per-person limit agreed; -1: none                          |
| reflection | `reflection`       | Words(2000)          | the agent's insights                                           |
| agenda     | `agenda_limit`     | Amount(-1, capacity) | election, each candidate: the limit it would set; -1: none     |
| agenda     | `agenda`           | Words(2000)          | election, each candidate: one sentence                         |
| vote       | `vote`             | Seat(seats)          | election, everyone: a candidate's name (or seat index)         |
| sanction   | `sanction`         | Seats(seats)         | sanctions, everyone: whom to fine, names (or a 0/1 mask); [] nobody |

A bad action (missing key, out of range, a name it may not give, a value of another
form) is clipped or replaced, recorded in ``infos[agent]["invalid"]`` and as an
``invalid_action`` event, never silently dropped: ``envs/actions.py`` says how each
value is read.

### Info keys

| key                | what it holds                                                                  |
|--------------------|--------------------------------------------------------------------------------|
| `phase`            | the phase's name (``Phase.label``)                                             |
| `month`            | the month                                                                      |
| `date`             | the date: harvest the month's 1st, the talk the day before its last, reflection its last |
| `present`          | the agents present, in seat order                                              |
| `summary`          | the last summary of the talk                                                   |
| `speaker`          | who speaks in this discussion step (None outside the discussion)               |
| `threshold`        | the sustainable threshold (only under ``universalization``)                    |
| `conversation`     | the turns this agent heard: ``{"speaker", "text"}``                            |
| `neighbours`       | the agents present it hears and may name (a network's neighbours; all others)  |
| `names`            | whom it may name as the next speaker, in seat order from the one after it      |
| `acting`           | whether this step reads its action                                             |
| `invalid`          | what was wrong with its last action and what was used instead                  |
| `leader`           | election: the leader's name or None                                            |
| `candidates`       | election: who stands                                                           |
| `agendas`          | election: ``{"candidate", "limit", "text"}`` of the last election              |
| `term_end`         | election: the leader's term's last month, or None                              |
| `announcement`     | election: at the harvest, the sentences on the leader and its limit            |
| `sanctionable`     | sanctions: whom it may fine now                                                |
| `sanction_catches` | sanctions: what each of them caught                                            |
| `sanctions`        | sanctions: this month's fines, ``{"agent", "target", "cost", "fine"}``          |
| `sanction_report`  | sanctions: the fines in words                                                  |
| `sanction_cost`    | sanctions: what a fine costs the one who gives it                              |
| `sanction_fine`    | sanctions: what a fine takes from the one fined                                |
| `sanction_limit`   | sanctions: the limit in force this month (-1: none)                            |

### Rewards

A harvest step rewards each agent with what it caught; a sanction step with minus what
it paid and was fined; every other step 0. An episode's return is the agent's gains.

### Termination

Every agent terminates at once when the run ends: after the harvest month in which the
stock fell below the collapse threshold (``collapse_below``), or after the last month
(``months``); ``env.agents`` is then empty. Never truncated. ``drain_events()`` returns
what happened since the last call as run-log events (``govsim.events``); the env itself
writes no files. ``state_dict()`` at a month's harvest and ``load_state_dict`` resume.

### Arguments

```python
from envs import commons_v0

env = commons_v0.parallel_env(scenario="fishery", experiment="default", months=12, seed=0,
                              render_mode=None)        # or config=RunConfig(...)
```

Any ``RunConfig`` key, or ``config=RunConfig(...)``. Those the env reads:
``scenario`` (fishery, pasture, pollution), ``experiment`` (a preset of
``govsim/experiments.yaml``: universalization, no_communication, greedy_newcomer, ...),
``seed``, ``months`` (12), ``agents`` / ``n_agents`` (5) / ``agent`` (the seats),
``capacity`` (100), ``initial_stock`` (the capacity), ``collapse_below`` (5),
``regeneration`` and ``allocation`` (``govsim.dynamics``), ``communication`` (True),
``universalization`` (False), ``max_conversation_steps`` (10), ``network``
(complete), ``institutions`` ([]) with ``election`` and ``sanctions``, ``profile``
(paper) and ``improvements`` (``stock_left_report``, ``random_first_speaker``,
``no_self_naming`` change the env). ``render_mode``: None, ``"ansi"`` (``render()``
returns one line) or ``"human"`` (printed every step).

### Version history

The env has kept its name; what changed in v0, newest first (the same config and seed
give the same events unless a line says otherwise):

* v0, issue 15: the action spaces hold what agents send (seat names for
  ``next_speaker`` and ``vote``, lists of names for ``sanction``, plain ints, any text);
  samples are unchanged. This manual. No change in events.
* v0, issue 14: institutions as phases of the month (election: AGENDA and VOTE;
  sanctions: SANCTION), their keys, events and rewards. Configs without institutions
  give the same events.
* v0, issue 11: one documented rule for reading actions (``envs/actions.py``): floats
  rounded down; NaN, bools and non-numbers refused; lone surrogates replaced; each an
  ``invalid_action`` (``envs/fuzz.py`` checks it). What was said is quoted in the talk
  (JSON string syntax), so it cannot pass for the mayor or an instruction. A speaker who
  ends the talk names nobody (no ``invalid_action`` for a missing ``next_speaker``).
* v0, issue 10: the paper profile, the reference's GovSim by default: the mayor's report
  counted in the talk's 10 steps, the first seat speaks first, self-naming allowed, the
  reference's calendar (``infos["date"]``); each deviation a named ``improvements`` key.
* v0: communication networks (``network``): the talk follows the graph's edges.
* v0: initial version: harvest, discussion, summary, reflection; scenarios as data.
"""

from __future__ import annotations

import functools
import json
import string
from datetime import date, timedelta
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from envs.actions import encodable, read_whole, shown
from envs.spaces import Amount, Flag, Seat, Seats, Words
from govsim import institutions, network, scenarios
from govsim.config import RunConfig, configured
from govsim.dynamics import Commons, clip_request
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
    month_plan,
)

MAX_TEXT = 8192  # characters of a text observation (the oldest part is cut first)
MAX_UTTERANCE = 2000  # characters of an utterance, summary or reflection action
CHARSET = frozenset(
    string.printable.replace("\x0b", "").replace("\x0c", "")
    + "".join(chr(c) for c in range(0xA0, 0x180))
    + "\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u2022\u20ac"
)
START_YEAR = 2024
MAYOR = "Mayor"  # who gives the monthly report in the conversation text


def sanitize(text: str, limit: int = MAX_TEXT) -> str:
    """Text made to fit a Text space: unknown characters become '?', the tail is kept."""
    clean = "".join(c if c in CHARSET else "?" for c in str(text))
    return clean[-limit:]


def month_date(month: int) -> str:
    year, index = divmod(month - 1, 12)
    return f"{START_YEAR + year}-{index + 1:02d}-01"


def phase_date(month: int, phase: str) -> str:
    """The simulated date of a phase, as the reference's calendar runs: the harvest on the
    month's first day, the talk on its second-to-last day, reflection at home on its last."""
    first = date.fromisoformat(month_date(month))
    if phase in (Phase.HARVEST.label, Phase.AGENDA.label, Phase.VOTE.label):  # the election: before the harvest
        return first.isoformat()
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    at_talk = (Phase.SANCTION.label, Phase.DISCUSSION.label, Phase.SUMMARY.label)  # sanctions: at the meeting
    return (last - timedelta(days=1) if phase in at_talk else last).isoformat()


def quoted_turn(speaker: str, text: str) -> str:
    """One line of the talk as a prompt shows it: the speaker, then what was said as quoted
    data (JSON string syntax: newlines and quotes escaped), so it cannot pass for the
    mayor, a memory or an instruction."""
    return f"{speaker}: {json.dumps(text, ensure_ascii=False)}"


def env(**kwargs: Any):
    """The AEC form, with PettingZoo's order-enforcing wrapper."""
    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


def raw_env(**kwargs: Any):
    """The AEC form, unwrapped: each agent acts in turn, then the month advances."""
    return parallel_to_aec(parallel_env(**kwargs))


def parallel_env(**kwargs: Any) -> CommonsEnv:
    return CommonsEnv(**kwargs)


class CommonsEnv(ParallelEnv):
    metadata = {"name": "commons_v0", "render_modes": ["ansi", "human"], "is_parallelizable": True}

    def __init__(self, config: RunConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        config = configured(config, overrides)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode {render_mode!r}: use one of {self.metadata['render_modes']} or None")
        self.config = config
        self.render_mode = render_mode
        self.scenario = scenarios.load(config.scenario)
        self.regen = config.regeneration
        self.seats = {seat.name: seat for seat in config.agents}
        self.possible_agents = list(self.seats)
        self.network = network.for_config(config)  # None: complete, everyone hears everyone
        self.institutions = institutions.build(config.institutions, self)
        self.plan = month_plan(inst.placement for inst in self.institutions)
        self._owner = {phase: inst for inst in self.institutions for phase in inst.placement}
        self._plays = {Phase.HARVEST: self._harvest, Phase.DISCUSSION: self._speak, Phase.SUMMARY: self._summarize,
                       Phase.REFLECTION: self._reflect, **dict.fromkeys(self._owner, self._institution_phase)}
        cap = config.capacity
        amount = functools.partial(spaces.Box, shape=(1,), dtype=np.int64)
        self._observation_space = spaces.Dict(
            {
                "phase": spaces.Discrete(len(Phase)),
                "month": spaces.Discrete(config.months + 1),
                "stock": amount(0, cap),
                "wanted": amount(0, cap),
                "caught": amount(0, cap),
                "agreed_limit": amount(NO_LIMIT, cap),
                "threshold": amount(-1, cap),
                "n_agents": spaces.Discrete(len(self.possible_agents) + 1),
                "acting": spaces.Discrete(2),
                "report": self.text_space(MAX_TEXT),
                "conversation": self.text_space(MAX_TEXT),
                "text": self.text_space(MAX_TEXT),
                **{k: v for inst in self.institutions for k, v in inst.observation_spaces().items()},
            }
        )
        self._action_space = spaces.Dict(
            {
                HARVEST: self.amount_space(0),
                UTTERANCE: self.words_space(MAX_UTTERANCE),
                NEXT_SPEAKER: self.seat_space(),
                END_CONVERSATION: Flag(),
                SUMMARY: self.words_space(MAX_UTTERANCE),
                AGREED_LIMIT: self.amount_space(NO_LIMIT),
                REFLECTION: self.words_space(MAX_UTTERANCE),
                **{k: v for inst in self.institutions for k, v in inst.action_spaces().items()},
            }
        )
        self.agents: list[str] = []
        self._events: list[dict[str, Any]] = []
        self.rng = np.random.default_rng(config.seed)

    # Spaces are the same object for every agent, built once (no cache needed: PettingZoo asks for
    # the same object each call, so seeding a space sticks).
    def observation_space(self, agent: str) -> spaces.Dict:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Dict:
        return self._action_space

    # ------------------------------------------------------------------ lifecycle

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.rng = np.random.default_rng(self.config.seed if seed is None else seed)
        self.commons = Commons(self.config.capacity, self.config.stock0, self.config.collapse_below, self.regen)
        self.month = 1
        self.agents = [a for a in self.possible_agents if self.seats[a].join_month <= 1]
        self.agreed_limit = NO_LIMIT
        self.last_harvest: dict[str, dict[str, int]] = {}
        self.summary_text = ""
        self._events = []
        self._invalid: dict[str, list[str]] = {}
        for inst in self.institutions:
            inst.reset()
        self._start_month()
        return self._observations(), self._infos()

    def step(self, actions: dict[str, Any]):
        self._invalid = {a: [] for a in self.agents}
        rewards = {a: 0.0 for a in self.agents}
        play = self._plays.get(self.phase)  # none once the run is done
        if play is not None and play(actions, rewards):  # the phase is over
            self._advance()
        done = self.phase == Phase.DONE
        observations, infos = self._observations(), self._infos()
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        if done:
            self.agents = []
        if self.render_mode == "human":
            print(self.render())
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        who = ", ".join(self.agents) or "nobody"
        return f"month {self.month} {self.phase.label}: stock {self.commons.stock}; present {who}"

    def close(self) -> None:
        pass

    def drain_events(self) -> list[dict[str, Any]]:
        """The run-log events of everything that happened since the last call."""
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ phases

    def _start_month(self) -> None:
        for name in self.possible_agents:
            if self.seats[name].join_month == self.month and name not in self.agents and self.month > 1:
                self.agents.append(name)
                self._event("agent_joined", agent=name, text=self.scenario.say("agent_joined", name=name))
        for inst in self.institutions:
            inst.new_month()
        self.conversation: list[dict[str, Any]] = []
        self.report_lines: list[str] = []
        self.stock_before = self.commons.stock
        self.threshold = self.commons.threshold(len(self.agents))
        self.phase = next(p for p in self.plan if self._runs(p))
        self._event("month_started", stock=self.commons.stock, agents=list(self.agents), threshold=self.threshold)
        self._begin(self.phase)

    def _runs(self, phase: Phase) -> bool:
        """Whether ``phase`` runs this month."""
        if phase in (Phase.DISCUSSION, Phase.SUMMARY):
            return self.config.communication and len(self.agents) > 1
        return self._owner[phase].runs(phase) if phase in self._owner else True

    def _advance(self) -> None:
        """The current phase is over: begin the next one of the plan that runs this month; after the
        month's last, the month ends (``_end_month``, which starts the next month or ends the run)."""
        following = self.plan[self.plan.index(self.phase) + 1 :]
        upcoming = next((p for p in following if self._runs(p)), None)
        if upcoming is None:
            self._end_month()  # in the last phase's name: its events are stamped with it
        else:
            self.phase = upcoming
            self._begin(upcoming)

    def _begin(self, phase: Phase) -> None:
        if phase == Phase.DISCUSSION:
            chair = self._chair()
            if chair is not None:
                self.speaker = chair
            elif self.config.opts.random_first_speaker:
                self.speaker = self.agents[int(self.rng.integers(len(self.agents)))]
            else:
                self.speaker = self.agents[0]
            self._event("discussion_started", report=self.report, first_speaker=self.speaker)
        for inst in self.institutions:
            inst.begin(phase)

    def _chair(self) -> str | None:
        """Who opens and sums up the talk by an institution's rule (the election's leader), if any."""
        return next((c for c in (inst.chair() for inst in self.institutions) if c is not None), None)

    # A step of each phase: it reads the actions it asks for, adds to the step's rewards and says
    # whether the phase is over (the talk goes on until it ends; every other phase takes one step).

    def _harvest(self, actions: dict[str, Any], rewards: dict[str, float]) -> bool:
        wanted = [self._amount(a, actions.get(a), HARVEST, 0, self.commons.stock) for a in self.agents]
        caught = self.commons.harvest(wanted, self.config.allocation, self.rng)
        self.last_harvest = {a: {"wanted": w, "caught": c} for a, w, c in zip(self.agents, wanted, caught)}
        for a, w, c in zip(self.agents, wanted, caught):
            self._event("harvest", agent=a, wanted=w, caught=c, threshold=self.threshold)
        self._event("harvest_done", stock_before=self.stock_before, stock_after=self.commons.stock, total=sum(caught))
        if self._runs(Phase.DISCUSSION):  # the public report, read out at the talk
            self.report_lines = [self.scenario.say("public_report_header")] + [
                self.scenario.say("public_report_line", name=a, caught=c) for a, c in zip(self.agents, caught)
            ]
        rewards.update({a: float(c) for a, c in zip(self.agents, caught)})
        return True

    def _speak(self, actions: dict[str, Any], rewards: dict[str, float]) -> bool:
        speaker = self.speaker
        action = actions.get(speaker)
        text = self._text(speaker, action, UTTERANCE)
        end = self._flag(speaker, action, END_CONVERSATION)
        nxt = None if end else self._next_speaker(speaker, action)  # who speaks next matters only if the talk goes on
        self.conversation.append({"speaker": speaker, "text": text})
        self._event("utterance", agent=speaker, text=text, next_speaker=nxt, end=end, turn=len(self.conversation))
        if end or nxt is None or 1 + len(self.conversation) >= self.config.max_conversation_steps:
            return True
        self.speaker = nxt
        return False

    def _summarize(self, actions: dict[str, Any], rewards: dict[str, float]) -> bool:
        action = actions.get(self.scribe)
        self.summary_text = self._text(self.scribe, action, SUMMARY)
        self.agreed_limit = self._amount(self.scribe, action, AGREED_LIMIT, NO_LIMIT, self.config.capacity, NO_LIMIT)
        self._event("summary", agent=self.scribe, text=self.summary_text, agreed_limit=self.agreed_limit)
        return True

    def _reflect(self, actions: dict[str, Any], rewards: dict[str, float]) -> bool:
        for a in self.agents:
            self._event("reflection", agent=a, text=self._text(a, actions.get(a), REFLECTION))
        return True

    def _institution_phase(self, actions: dict[str, Any], rewards: dict[str, float]) -> bool:
        """A phase an institution owns (``govsim.institutions``): its step, its rewards."""
        for agent, reward in self._owner[self.phase].step(self.phase, actions).items():
            rewards[agent] += reward
        return True

    def _end_month(self) -> None:
        """The month is over: the run ends (collapse or the last month), or the stock regenerates and
        the next month starts."""
        collapsed = self.commons.collapsed
        last = self.month >= self.config.months
        if not collapsed and not last:
            self.commons.regenerate(self.rng)
        self._event(
            "month_ended",
            stock_after_harvest=self.stock_before - self._caught_total(),
            collapsed=collapsed,
            stock_next=None if (collapsed or last) else self.commons.stock,
        )
        if collapsed or last:
            self.phase = Phase.DONE
            self._event("run_ended", month=self.month, collapsed=collapsed, stock=self.commons.stock)
        else:
            self.month += 1
            self._start_month()

    def _caught_total(self) -> int:
        return sum(h["caught"] for h in self.last_harvest.values())

    @property
    def scribe(self) -> str:
        """Who sums the talk up: the chair by an institution's rule, else the first agent present."""
        return self._chair() or self.agents[0]

    # ------------------------------------------------------------------ reading actions

    # How values are read, coerced or refused: envs/actions.py. Each coercion is an invalid_action.

    def _field(self, agent: str, action: Any, key: str) -> Any:
        """The action's value for ``key``, or None (recorded) when it is absent or None."""
        if not isinstance(action, dict) or key not in action:
            self._flag_invalid(agent, key, action if not isinstance(action, dict) else None, "missing")
            return None
        if action[key] is None:
            self._flag_invalid(agent, key, None, "None given; counted as missing")
        return action[key]

    def _amount(self, agent: str, action: Any, key: str, low: int, high: int, default: int = 0) -> int:
        value = self._field(agent, action, key)
        if value is None:
            return default
        number, how = read_whole(value)
        if number is None:
            self._flag_invalid(agent, key, value, f"{how}; used {default}")
            return default
        clipped = clip_request(number - low, high - low) + low
        fixes = [how] if how else []
        if clipped != number:
            fixes.append(f"out of range [{low}, {high}]; clipped to {clipped}")
        if fixes:
            self._flag_invalid(agent, key, value, "; ".join(fixes))
        return clipped

    def _text(self, agent: str, action: Any, key: str) -> str:
        value = self._field(agent, action, key)
        if value is None:
            return ""
        fixes = []
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value[: 4 * MAX_UTTERANCE]).decode("utf-8", "replace")
            fixes.append("bytes, decoded as UTF-8")
        elif isinstance(value, str):
            text = value
        else:
            self._flag_invalid(agent, key, value, f"not text (a {type(value).__name__}); used ''")
            return ""
        if len(text) > MAX_UTTERANCE:
            fixes.append(f"longer than {MAX_UTTERANCE} characters ({len(text)}); cut")
            text = text[:MAX_UTTERANCE]
        text, replaced = encodable(text)
        if replaced:
            fixes.append(f"{replaced} character(s) UTF-8 cannot encode (lone surrogates) replaced by U+FFFD")
        if fixes:
            self._flag_invalid(agent, key, value, "; ".join(fixes))
        return text

    def _flag(self, agent: str, action: Any, key: str) -> bool:
        value = self._field(agent, action, key)
        if value is None:
            return False
        number, how = read_whole(value, bools=True)
        if number is None:
            self._flag_invalid(agent, key, value, f"{how}; used 0")
            return False
        fixes = [how] if how else []
        if number not in (0, 1):
            fixes.append(f"not 0 or 1; read as {int(number != 0)}")
        if fixes:
            self._flag_invalid(agent, key, value, "; ".join(fixes))
        return number != 0

    def _next_speaker(self, speaker: str, action: Any) -> str | None:
        value = self._field(speaker, action, NEXT_SPEAKER)
        allowed = self._addressable(speaker)
        fallback = allowed[0] if allowed else None  # the next seat round that the speaker may name
        if value is None:
            return fallback
        name = self.seat_named(value)
        if name in allowed:
            return name
        if fallback is None:
            fix = "no neighbour present; the discussion ends"
        elif self.network is None:
            fix = f"not an agent it may name; {fallback} speaks next"
        else:
            fix = f"not a neighbour present; {fallback} speaks next"
        self._flag_invalid(speaker, NEXT_SPEAKER, value, fix)
        return fallback

    def seat_named(self, value: Any) -> str | None:
        """The seat a value names: a string as it is (the caller checks it), or a seat index in the
        action space's own form; anything else None."""
        if isinstance(value, str):
            return value
        index, how = read_whole(value)
        return self.possible_agents[index] if index is not None and not how and 0 <= index < len(self.possible_agents) else None

    def _addressable(self, speaker: str) -> list[str]:
        """Present agents the speaker may name next, in seat order starting after it (itself
        last, unless ``improvements.no_self_naming``)."""
        i = self.agents.index(speaker)
        others = [a for a in self.agents[i + 1 :] + self.agents[:i] if self._linked(speaker, a)]
        return others if self.config.opts.no_self_naming or not others else others + [speaker]

    def _linked(self, a: str, b: str) -> bool:
        return self.network is None or self.network.has_edge(a, b)

    def _heard(self, agent: str) -> list[dict[str, Any]]:
        """The turns an agent heard: all of them, or on a network its neighbours' and its own."""
        if self.network is None:
            return self.conversation
        return [t for t in self.conversation if t["speaker"] == agent or self._linked(agent, t["speaker"])]

    @property
    def report(self) -> str:
        """The mayor's report as one line of the talk (empty before the talk)."""
        return f"{MAYOR}: {' '.join(self.report_lines)}" if self.report_lines else ""

    def talk_lines(self, agent: str) -> list[str]:
        """The talk as ``agent`` heard it, one line a turn, what others said quoted."""
        return [quoted_turn(t["speaker"], t["text"]) for t in self._heard(agent)]

    def _flag_invalid(self, agent: str, key: str, value: Any, fix: str) -> None:
        self._invalid.setdefault(agent, []).append(f"{key}: {fix}")
        self._event("invalid_action", agent=agent, key=key, value=shown(value), fix=fix)

    def _event(self, type_: str, **fields: Any) -> None:
        self._events.append({"type": type_, "month": self.month, "phase": self.phase.label, **fields})

    # What an institution uses of the env (govsim.institutions.Host): the same reading and recording.

    def event(self, type_: str, **fields: Any) -> None:
        self._event(type_, **fields)

    def read_field(self, agent: str, action: Any, key: str) -> Any:
        return self._field(agent, action, key)

    def read_amount(self, agent: str, action: Any, key: str, low: int, high: int, default: int = 0) -> int:
        return self._amount(agent, action, key, low, high, default)

    def read_text(self, agent: str, action: Any, key: str) -> str:
        return self._text(agent, action, key)

    def flag_invalid(self, agent: str, key: str, value: Any, fix: str) -> None:
        self._flag_invalid(agent, key, value, fix)

    @staticmethod
    def text_space(limit: int) -> spaces.Text:
        return spaces.Text(limit, charset=CHARSET, min_length=0)

    # The action spaces (envs/spaces.py): Gymnasium's, each also holding the forms agents send.

    def amount_space(self, low: int) -> Amount:
        return Amount(low, self.config.capacity)

    def seat_space(self) -> Seat:
        return Seat(self.possible_agents)

    def seats_space(self) -> Seats:
        return Seats(self.possible_agents)

    @staticmethod
    def words_space(limit: int) -> Words:
        return Words(limit, CHARSET)

    @staticmethod
    def sanitize(text: str) -> str:
        return sanitize(text)

    # ------------------------------------------------------------------ observing

    def acting(self, agent: str) -> bool:
        if self.phase == Phase.DISCUSSION:
            return agent == self.speaker
        if self.phase == Phase.SUMMARY:
            return agent == self.scribe
        if self.phase in self._owner:
            return self._owner[self.phase].acting(self.phase, agent)
        return self.phase in (Phase.HARVEST, Phase.REFLECTION)

    def _observations(self) -> dict[str, dict[str, Any]]:
        report = sanitize(self.report)
        threshold = self.threshold if self.config.universalization else -1
        return {
            a: {
                "phase": int(self.phase),
                "month": min(self.month, self.config.months),
                "stock": np.array([self.commons.stock], dtype=np.int64),
                "wanted": np.array([self.last_harvest.get(a, {}).get("wanted", 0)], dtype=np.int64),
                "caught": np.array([self.last_harvest.get(a, {}).get("caught", 0)], dtype=np.int64),
                "agreed_limit": np.array([self.agreed_limit], dtype=np.int64),
                "threshold": np.array([threshold], dtype=np.int64),
                "n_agents": len(self.agents),
                "acting": int(self.acting(a)),
                "report": report,
                "conversation": sanitize("\n".join(self.talk_lines(a))),
                "text": sanitize(self._describe(a)),
                **{k: v for inst in self.institutions for k, v in inst.observe(a).items()},
            }
            for a in self.agents
        }

    def _describe(self, agent: str) -> str:
        """Everything the agent may see now, in the scenario's words."""
        say = self.scenario.say
        lines: list[str] = []
        extra = [line for inst in self.institutions for line in inst.describe(agent)]
        if self.phase == Phase.HARVEST:
            lines.append(say("stock_before_harvest", stock=self.commons.stock))
            if self.config.universalization:
                lines.append(say("universalization_hint", threshold=self.threshold))
            told = next((t for t in (inst.harvest_limit_lines(agent) for inst in self.institutions) if t is not None), None)
            if told is not None:  # an institution's own words on the limit (the leader's)
                lines += told
            elif self.agreed_limit != NO_LIMIT:
                lines.append(say("agreed_limit", limit=self.agreed_limit))
            return "\n".join(lines + extra)
        if self.phase in self.plan and self.plan.index(self.phase) < self.plan.index(Phase.HARVEST):
            return "\n".join([say("stock_before_harvest", stock=self.commons.stock), *extra])
        if agent in self.last_harvest:
            h = self.last_harvest[agent]
            lines.append(say("harvest_report", name=agent, wanted=h["wanted"], caught=h["caught"]))
            if self.config.opts.stock_left_report:
                lines.append(say("stock_left", stock_after=self.commons.stock))
        if self.report:
            lines.append(self.report)
        lines += self.talk_lines(agent)
        if self.phase in (Phase.REFLECTION, Phase.DONE) and self.summary_text:
            lines.append(self.summary_text)
        return "\n".join(lines + extra)

    def _infos(self) -> dict[str, dict[str, Any]]:
        shared = {
            "phase": self.phase.label,
            "month": self.month,
            "date": phase_date(self.month, self.phase.label),
            "present": list(self.agents),
            "summary": self.summary_text,
            "speaker": self.speaker if self.phase == Phase.DISCUSSION else None,
        }
        if self.config.universalization:
            shared["threshold"] = self.threshold
        return {
            a: {
                **shared,
                "conversation": [dict(t) for t in self._heard(a)],
                "neighbours": [b for b in self.agents if b != a and self._linked(a, b)],
                "names": self._addressable(a),  # whom it may name as the next speaker
                "acting": self.acting(a),
                "invalid": list(self._invalid.get(a, [])),
                **{k: v for inst in self.institutions for k, v in inst.info(a).items()},
            }
            for a in self.agents
        }

    # ------------------------------------------------------------------ resuming

    def state_dict(self) -> dict[str, Any]:
        """The env's state at the start of a month (HARVEST), JSON-able."""
        if self.phase != Phase.HARVEST:
            raise RuntimeError("state_dict is taken at the start of a month, before the harvest")
        held = {"institutions": {inst.name: inst.state_dict() for inst in self.institutions}} if self.institutions else {}
        return {
            **held,
            "month": self.month,
            "stock": self.commons.stock,
            "agents": list(self.agents),
            "agreed_limit": self.agreed_limit,
            "last_harvest": self.last_harvest,
            "summary": self.summary_text,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]):
        """Continue from ``state_dict()``; returns (observations, infos) as ``reset`` does."""
        self.reset(seed=self.config.seed)
        self.commons.stock = state["stock"]
        self.month = state["month"]
        self.agents = list(state["agents"])
        self.agreed_limit = state["agreed_limit"]
        self.last_harvest = state["last_harvest"]
        self.summary_text = state["summary"]
        self.rng.bit_generator.state = state["rng"]
        for inst in self.institutions:
            inst.load_state_dict(state["institutions"][inst.name])
        self.phase = Phase.HARVEST
        self.stock_before = self.commons.stock
        self.threshold = self.commons.threshold(len(self.agents))
        self._events = []
        return self._observations(), self._infos()
