"""Backends built from configuration, one shared engine per (backend, model).

The runner makes one ``LLMPool`` per process and hands ``pool.get(run_config.llm, ...)``
to every agent of every episode, so all their calls meet in the same engine and batch
there. The pool also enforces ``max_concurrency`` (1 reproduces the reference's one call
at a time; the pool's config, else the first config given to ``get``), fills in the LoRA
adapter of the config given to ``get`` (its view's ``default_adapter``; episodes with
different adapters share one engine), and counts the calls in flight:
``Completion.in_flight`` is how many other calls were in an engine when this one entered.

With ``merge`` (a function of base model and adapter giving a model folder, e.g.
``govsim.llm.merged.merged_copy``; the pool's calls pass no probes) a call that names an adapter goes instead, without
it, to an engine of that adapter merged into the weights, started on first use; the call
logger still records the adapter, and the engine's model says it was merged.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from contextlib import nullcontext
from functools import lru_cache

from govsim.config import LLMConfig
from govsim.llm.base import LLM, Completion, ForwardingLLM, LLMError, Request, first_line
from govsim.llm.embedded import resolve_model

BACKENDS = ("vllm", "transformers", "openai", "fake")

Factory = Callable[[str, str, LLMConfig, int], LLM]


@lru_cache(maxsize=1)
def vllm_available() -> bool:
    """Whether ``import vllm`` works here (a broken install counts as absent)."""
    try:
        import vllm  # noqa: F401
    except Exception:  # noqa: BLE001 - e.g. torchvision operator errors from mismatched wheels
        return False
    return True


def resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "vllm" if vllm_available() else "transformers"
    if backend not in BACKENDS:
        raise LLMError(f"unknown LLM backend {backend!r}; allowed: auto, {', '.join(BACKENDS)}")
    return backend


def make_llm(backend: str, model: str, config: LLMConfig, seed: int = 0, *, max_lora_rank: int | None = None) -> LLM:
    """One engine: the one place backends are built (the pool, Re-ReST and the bench use it).

    ``backend`` is already resolved (not "auto"). ``max_lora_rank``: start a vLLM engine ready
    for adapters up to this rank that do not exist yet (vLLM enables LoRA only at start;
    Re-ReST asks the engine it sampled with for the adapters it trains later).
    """
    if backend == "fake":
        from govsim.llm.fake import FakeLLM

        return FakeLLM(model=model)
    if backend == "openai":
        from govsim.llm.openai_backend import OpenAILLM

        return OpenAILLM(model, base_url=config.base_url, api_key_env=config.api_key_env)
    if backend == "vllm":
        from govsim.llm.vllm_backend import VLLMLLM, fitting_rank, lora_rank

        # No default adapter here: the pool's views fill in each config's own, and a
        # base config's requests must stay on the base model.
        lora = {}
        if config.adapter or max_lora_rank is not None:
            rank = max(lora_rank(config.adapter), fitting_rank(max_lora_rank or 0))
            lora = {"enable_lora": True, "max_lora_rank": rank}
        return VLLMLLM(resolve_model(model), seed=seed, max_model_len=config.max_model_len, **lora)
    from govsim.llm.transformers_backend import TransformersLLM

    return TransformersLLM(resolve_model(model), seed=seed)


class LLMPool:
    def __init__(
        self, config: LLMConfig | None = None, *, seed: int = 0, factory: Factory = make_llm,
        merge: Callable[..., str] | None = None,
    ) -> None:
        self.config = config
        self._seed = seed
        self._factory = factory
        self.merge = merge
        self._engines: dict[tuple[str, str], LLM] = {}
        self._views: dict[tuple[str, str, str | None], _PooledLLM] = {}
        self._limit: asyncio.Semaphore | None = None
        self._limit_set = False
        if config is not None:
            self._set_limit(config)
        self.in_flight = 0
        self.max_in_flight = 0

    def get(self, config: LLMConfig | None = None, model: str | None = None, backend: str | None = None) -> LLM:
        """The LLM for a seat: ``config`` (default: the pool's) with ``model``/``backend`` overriding it."""
        config = config or self.config or LLMConfig()
        self._set_limit(config)
        key = (resolve_backend(backend or config.backend), model or config.model)
        view = (*key, config.adapter)
        if view not in self._views:
            # merging, the model's own engine serves no adapter (its calls go to merged copies)
            engine = self._engine(key, config.model_copy(update={"adapter": None}) if self.merge else config)
            self._views[view] = _PooledLLM(self, engine, key, config)
        return self._views[view]

    def _engine(self, key: tuple[str, str], config: LLMConfig) -> LLM:
        if key not in self._engines:
            self._engines[key] = self._factory(key[0], key[1], config, self._seed)
        return self._engines[key]

    def _set_limit(self, config: LLMConfig) -> None:
        """The first config seen sets the pool-wide concurrency limit."""
        if not self._limit_set:
            self._limit_set = True
            self._limit = asyncio.Semaphore(config.max_concurrency) if config.max_concurrency else None

    @property
    def engines(self) -> dict[tuple[str, str], LLM]:
        return dict(self._engines)

    async def aclose(self) -> None:
        """Shut every engine down. Safe to call twice."""
        engines, self._engines, self._views = list(self._engines.values()), {}, {}
        for engine in engines:
            await engine.aclose()

    async def _call(self, view: _PooledLLM, request: Request) -> Completion:
        if request.adapter is None and view.default_adapter is not None:
            request = dataclasses.replace(request, adapter=view.default_adapter)
        llm = view.inner
        if self.merge is not None and request.adapter:
            backend, model = view.key
            merged = self.merge(model, request.adapter)
            llm = self._engine((backend, merged), view.config.model_copy(update={"model": merged, "adapter": None}))
            request = dataclasses.replace(request, adapter=None)
        async with self._limit or nullcontext():
            others = self.in_flight
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                completion = await llm.complete(request)
            except LLMError:
                raise
            except Exception as exc:  # a backend bug must still reach the agent as one line
                raise LLMError(f"{llm.name} ({llm.model}): {type(exc).__name__}: {first_line(exc)}") from exc
            finally:
                self.in_flight -= 1
        completion.in_flight = others
        return completion


class _PooledLLM(ForwardingLLM):
    """What agents hold: the engine behind the pool's limit and counters, with its config's adapter."""

    def __init__(self, pool: LLMPool, engine: LLM, key: tuple[str, str], config: LLMConfig) -> None:
        super().__init__(engine)
        self._pool, self.key, self.config, self.default_adapter = pool, key, config, config.adapter

    async def complete(self, request: Request) -> Completion:
        return await self._pool._call(self, request)
