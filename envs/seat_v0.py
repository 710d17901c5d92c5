"""seat_v0: one seat of the commons as a Gymnasium environment, the other seats played by agents.

The outside-controlled seat of ``agents/human.py`` for reinforcement learning: the
Gymnasium agent sits at one seat of ``commons_v0`` and the config's other seats are the
configured agents (scripted, generative on any backend, plugins), built and seeded as the
runner builds them. ``step`` takes the seat's action, lets every other agent act, and
plays on until the seat acts again (or the run ends)::

    from envs import seat_v0
    env = seat_v0.env(seat="John", agents="human,sustainable*4", months=3)
    obs, info = env.reset(seed=0)      # or gymnasium.make("govsim/Seat-v0", seat="John", ...)
    while True:
        action = {key: ... for key in info["action_keys"]}   # only these are read
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated:
            break

``env(seat=..., config=RunConfig | None, render_mode=None, **overrides)``: ``seat`` is a
seat's name or index (default 0); overrides are ``RunConfig`` keys as for commons_v0
(``agents="greedy,sustainable*4"``, ``scenario="pasture"``, ``experiment=...``). The
seat's own configured type is not used (``human`` marks it in logs). The seat must sit
from month 1.

Spaces: commons_v0's (its docstring's tables of observation and action keys). Every
step is the seat's turn (``acting`` is 1, 0 only at the end). Only the keys the phase
reads are used; ``info["action_keys"]`` lists them, and the others may hold anything
(an ``action_space.sample()`` is read as well). ``next_speaker`` and ``vote`` take a seat's
name or its index, ``sanction`` names or a 0/1 mask. The discussion is asked only when it
is this seat's turn, the summary only when it is the scribe. An action out of range or a
name it may not give is clipped or replaced by commons_v0 and recorded:
``info["invalid"]`` says how.

Reward: the seat's commons_v0 rewards from its action until its next turn: its catch in
the harvest its action joined (with sanctions, less what it paid and was fined). ``terminated`` when the run
ends (the last month, or the resource collapsed); never truncated. ``info`` is
commons_v0's info of the seat (phase, month, date, present, conversation turns,
neighbours, names it may give, summary, invalid) plus ``action_keys``.
``drain_events()`` returns the run-log events since the last call (the env's and the
agents', stamped with the month and phase in which they acted), as commons_v0 does.

Seeding: ``reset(seed=s)`` plays the episode of ``RunConfig`` seed ``s`` (the same events
as ``govsim run --seed s`` with the seat's same actions); the first ``reset()`` without a
seed plays the config's seed, later ones draw a seed from ``np_random``. Agents that call
a model share one ``LLMPool`` for the env's life; ``close()`` shuts it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import gymnasium as gym
import numpy as np

import agents as agent_registry
from agents.base import Agent, AgentContext
from envs import commons_v0
from govsim.config import MAX_SEED, RunConfig, configured
from govsim.institutions import action_keys
from govsim.phases import Phase

PHASE_KEYS = action_keys()  # what each phase reads, the institutions' too

GYM_ID = "govsim/Seat-v0"  # gymnasium.make(GYM_ID, seat=..., agents=...) once this module is imported


def env(**kwargs: Any) -> SeatEnv:
    return SeatEnv(**kwargs)


class SeatEnv(gym.Env):
    metadata = {"name": "seat_v0", "render_modes": ["ansi"]}

    def __init__(self, seat: str | int = 0, config: RunConfig | None = None, render_mode: str | None = None,
                 **overrides: Any) -> None:
        config = configured(config, overrides)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode {render_mode!r}: use one of {self.metadata['render_modes']} or None")
        names = [s.name for s in config.agents]
        if isinstance(seat, int) and not isinstance(seat, bool) and 0 <= seat < len(names):
            seat = names[seat]
        if seat not in names:
            raise ValueError(f"seat {seat!r}: give a seat's name or index; seats: {', '.join(names)}")
        spec = config.agents[names.index(seat)]
        if spec.join_month > 1:
            raise ValueError(f"seat {seat!r} joins in month {spec.join_month}; the Gymnasium seat must sit from month 1")
        self.config, self.seat, self.render_mode = config, seat, render_mode
        spaces_of = commons_v0.parallel_env(config=config)
        self.observation_space = spaces_of.observation_space(seat)
        self.action_space = spaces_of.action_space(seat)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: Any = None
        self._seeded = False
        self._commons: commons_v0.CommonsEnv | None = None
        self._events: list[dict[str, Any]] = []
        self._pending: dict[str, list[dict[str, Any]]] = {}  # this step's agent events, by agent

    # ------------------------------------------------------------------ Gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = self.config.seed if not self._seeded else int(self.np_random.integers(MAX_SEED))
        self._seeded = True
        config = self.config.model_copy(update={"seed": int(seed)})
        self._commons = commons_v0.parallel_env(config=config, render_mode=self.render_mode)
        self._others = self._build_agents(config, self._commons)
        self._events, self._pending = [], {}
        self._moment: dict[str, Any] = {}
        observations, infos = self._commons.reset(seed=config.seed)
        self._drain()
        observations, infos, _ = self._play_until_seat(observations, infos)
        return observations[self.seat], self._info(infos)

    def step(self, action: dict[str, Any]):
        if self._commons is None or not self._commons.agents:
            raise RuntimeError("step after the episode ended: call reset()")
        observations, infos = self._last
        reward = self._step(observations, infos, {self.seat: action})
        observations, infos, more = self._play_until_seat(*self._last)
        done = not self._commons.agents
        return observations[self.seat], float(reward + more), done, False, self._info(infos)

    def render(self) -> str | None:
        return None if self.render_mode is None else self._commons.render()

    def close(self) -> None:
        if self._loop is not None:
            if self._pool is not None:
                self._loop.run_until_complete(self._pool.aclose())
            self._loop.close()
        self._loop = self._pool = None

    def drain_events(self) -> list[dict[str, Any]]:
        """The run-log events since the last call: the agents' of each step, then the env's."""
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ playing

    def _play_until_seat(self, observations, infos):
        """Step with the other agents until the seat acts or the run ends; the seat's reward meanwhile."""
        reward = 0.0
        self._last = (observations, infos)
        while self._commons.agents and not (self.seat in infos and infos[self.seat]["acting"]):
            reward += self._step(observations, infos, {})
            observations, infos = self._last
        return observations, infos, reward

    def _step(self, observations, infos, actions: dict[str, Any]) -> float:
        commons = self._commons
        self._moment = {"month": commons.month, "phase": commons.phase.label}
        others = [name for name in commons.agents if name != self.seat]
        acted = self._run(self._act_all(others, observations, infos))
        actions.update({name: a for name, a in zip(others, acted) if infos[name]["acting"]})
        observations, rewards, _, _, infos = commons.step(actions)
        self._drain()
        self._last = (observations, infos)
        return float(rewards.get(self.seat, 0.0))

    async def _act_all(self, names: list[str], observations, infos) -> list[Any]:
        return await asyncio.gather(*(self._act(name, observations[name], infos[name]) for name in names))

    async def _act(self, name: str, observation, info) -> Any:
        try:
            return await self._others[name].act(observation, info)
        except Exception as exc:  # as the runner does: recorded, the action counts as missing
            self._emitter(name)({"type": "agent_error", "error": f"{type(exc).__name__}: {exc}"[:500]})
            return {}

    def _info(self, infos: dict[str, dict[str, Any]]) -> dict[str, Any]:
        info = dict(infos.get(self.seat) or {"phase": Phase.DONE.label, "acting": False})
        phase = self._commons.phase
        info["action_keys"] = list(PHASE_KEYS.get(phase, ())) if info.get("acting") else []
        return info

    def _drain(self) -> None:
        """Log the step's events as the runner does: the agents' in seat order, then the env's."""
        for spec in self.config.agents:
            self._events += self._pending.pop(spec.name, [])
        self._events += self._commons.drain_events()

    def _emitter(self, name: str):
        def emit(event: dict[str, Any]) -> None:
            self._pending.setdefault(name, []).append({**self._moment, "agent": name, **event})

        return emit

    def _run(self, coroutine):
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    def _build_agents(self, config: RunConfig, commons: commons_v0.CommonsEnv) -> dict[str, Agent]:
        """The other seats' agents, seeded as the runner seeds them (seed and seat index)."""
        built: dict[str, Agent] = {}
        for index, spec in enumerate(config.agents):
            if spec.name == self.seat:
                continue
            cls = agent_registry.get(spec.type)
            emit = self._emitter(spec.name)
            llm = None
            if cls.needs_llm:
                from govsim.llm import LoggedLLM
                from govsim.llm.pool import LLMPool

                self._pool = self._pool or LLMPool(config.llm)
                tags = (("seed", config.seed), ("agent", spec.name))
                llm = LoggedLLM(self._pool.get(config.llm, model=spec.model, backend=spec.backend), emit, tags)
            ctx = AgentContext(seat=spec, config=config, scenario=commons.scenario,
                               rng=np.random.default_rng([config.seed, index]), emit=emit, llm=llm)
            built[spec.name] = cls(ctx)
        return built


if GYM_ID not in gym.registry:
    gym.register(id=GYM_ID, entry_point=SeatEnv)
