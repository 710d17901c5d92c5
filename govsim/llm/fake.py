"""A scripted backend for tests: replies come from a function or a cycling list.

It answers instantly, counts tokens by whitespace, and honours a choice constraint by
picking the first allowed choice contained in the scripted reply (else the first one).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable

from govsim.llm.base import LLM, Completion, Request

Script = Callable[[Request], str]


class FakeLLM(LLM):
    name = "fake"
    supports_constraints = True
    supports_adapters = True

    def __init__(self, replies: Script | Iterable[str] = ("Answer: 10",), model: str = "fake") -> None:
        self.model = model
        if callable(replies):
            self._script: Script = replies
        else:
            cycle = itertools.cycle(list(replies))
            self._script = lambda request: next(cycle)
        self.requests: list[Request] = []

    async def complete(self, request: Request) -> Completion:
        self.requests.append(request)
        await asyncio.sleep(0)  # yield, as a real backend would, so concurrent callers interleave
        text = self._script(request)
        if request.constraint is not None and request.constraint.choice:
            text = next((c for c in request.constraint.choice if c in text), request.constraint.choice[0])
        prompt = " ".join(m["content"] for m in request.messages)
        return Completion(
            text=text,
            prompt_tokens=len(prompt.split()),
            completion_tokens=len(text.split()),
            latency_s=0.0,
            backend=self.name,
            model=self.model,
            constrained=request.constraint is not None and bool(request.constraint.choice),
        )
