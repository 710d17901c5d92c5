"""``LoggedLLM``: report every call as an ``llm_call`` event to a callable.

The layer knows nothing of run logs: ``emit`` is any callable taking a dict (the runner
passes its run-log writer). Events carry the prompt, the reply, token counts, timing
(``t_submit``/``t_done`` are wall-clock seconds; ``latency_s`` is the engine's share),
the request's tags under ``"tags"`` (agent, purpose, episode...), the caller's identity
tags (``govsim.events.CALL_IDENTITY``: agent, purpose, month, attempt, seed) also as
top-level fields, and ``in_flight``:
how many other calls were in the engine when this one entered (from ``LLMPool``; None
for an LLM used outside a pool). A failed call is emitted with ``"error"`` and re-raised.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

from govsim.events import CALL_IDENTITY
from govsim.llm.base import LLM, Completion, ForwardingLLM, Request

Emit = Callable[[dict[str, Any]], None]


class LoggedLLM(ForwardingLLM):
    def __init__(self, llm: LLM, emit: Emit, tags: Mapping[str, Any] | None = None) -> None:
        """``tags`` are added to every request's tags (the request's own win on a clash)."""
        super().__init__(llm)
        self._emit, self._tags = emit, dict(tags or {})

    async def complete(self, request: Request) -> Completion:
        if self._tags:
            request = dataclasses.replace(request, tags=tuple({**self._tags, **request.tag_dict}.items()))
        t_submit = time.time()
        try:
            completion = await self.inner.complete(request)
        except Exception as exc:
            self._emit(self._event(request, t_submit, None, error=str(exc)))
            raise
        self._emit(self._event(request, t_submit, completion))
        return completion

    def _event(self, request: Request, t_submit: float, c: Completion | None, error: str | None = None) -> dict[str, Any]:
        constraint = request.constraint
        tags = request.tag_dict
        event: dict[str, Any] = {
            "type": "llm_call",
            **{key: tags[key] for key in CALL_IDENTITY if key in tags},
            "backend": c.backend if c else self.name,
            "model": c.model if c else self.model,
            "adapter": request.adapter if request.adapter is not None else self.default_adapter,
            "messages": [dict(m) for m in request.messages],
            "sampling": request.sampling.as_dict(),
            "constraint": dataclasses.asdict(constraint) if constraint else None,
            "text": c.text if c else None,
            "finish_reason": c.finish_reason if c else "error",
            "constrained": c.constrained if c else False,
            "prompt_tokens": c.prompt_tokens if c else 0,
            "completion_tokens": c.completion_tokens if c else 0,
            "latency_s": c.latency_s if c else None,
            "t_submit": t_submit,
            "t_done": time.time(),
            "in_flight": c.in_flight if c else None,
            "tags": tags,
        }
        if error is not None:
            event["error"] = error
        return event
