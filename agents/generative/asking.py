"""Asking the model until the reply can be read, and saying so when it cannot.

Every component asks through ``Asker.ask``: the first attempt goes as given (free text,
so the model can reason), then up to ``config.llm.retries`` more attempts, each
constrained (regex or choice) when the backend supports constraints, and, where the
component gives a ``follow_up``, sent as a reply in the same chat ("I could not read
that, give it in this form"). A reply that still does not parse is reported as a
``parse_failure`` event; the component then takes its documented fallback and reports it
with ``fallback``. Nothing is silently replaced.

Requests have the reference's shape: one user turn whose first paragraph is the system
text (``chat``), and, where the reference prefills the answer, an open assistant turn
that the model continues (``prefilled``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agents.base import AgentContext
from govsim.llm.base import Constraint, Message, Request, Sampling

T = TypeVar("T")
MAX_REPORTED_TEXT = 2000  # characters of a failed reply kept in the parse_failure event


@dataclass
class Reply(Generic[T]):
    value: T | None  # the parsed value, None when no attempt parsed
    text: str  # the last reply
    finish: str = "stop"  # why the last reply ended: "stop" (a stop string or the end), "length"


class Asker:
    """One agent's way to the model: sampling settings, tags, retries and failure events."""

    def __init__(self, ctx: AgentContext) -> None:
        if ctx.llm is None:
            raise ValueError(f"agent {ctx.name}: the generative agent needs an LLM (ctx.llm is None)")
        self.ctx = ctx
        self.llm = ctx.llm
        self.name = ctx.name

    def sampling(self, max_tokens: int | None = None, stop: Sequence[str] = ()) -> Sampling:
        cfg = self.ctx.config.llm
        limit = cfg.max_tokens if max_tokens is None else min(max_tokens, cfg.max_tokens)
        return Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=limit, stop=tuple(stop))

    async def ask(
        self,
        purpose: str,
        messages: Sequence[Message],
        parse: Callable[[str], T | None],
        *,
        month: int,
        constraint: Constraint | None = None,
        constrain_first: bool = False,
        follow_up: Callable[[str], Sequence[Message]] | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> Reply[T]:
        """Ask, parse, retry; emit ``parse_failure`` and return value None if nothing parsed.

        ``follow_up(last_reply)`` gives the messages of a retry; without it a retry repeats
        ``messages``. ``constraint`` applies to retries, and to the first attempt too when
        ``constrain_first``; it is dropped when the backend cannot enforce constraints.
        """
        usable = constraint if self.llm.supports_constraints else None
        attempts = 1 + self.ctx.config.llm.retries
        text, finish = "", "stop"
        for attempt in range(attempts):
            retry = attempt > 0
            request = Request(
                messages=tuple(follow_up(text) if retry and follow_up else messages),
                sampling=self.sampling(max_tokens, stop),
                constraint=usable if (retry or constrain_first) else None,
                tags=(("agent", self.name), ("purpose", purpose), ("month", month), ("attempt", attempt + 1)),
            )
            completion = await self.llm.complete(request)
            text, finish = completion.text, completion.finish_reason
            value = parse(text)
            if value is not None:
                return Reply(value, text, finish)
        self.ctx.emit(
            {
                "type": "parse_failure",
                "agent": self.name,
                "purpose": purpose,
                "month": month,
                "text": text[:MAX_REPORTED_TEXT],
                "attempts": attempts,
            }
        )
        return Reply(None, text, finish)

    def fallback(self, purpose: str, used: Any, reason: str, month: int) -> None:
        """Report a replacement the agent made for something the model did not give."""
        self.ctx.emit(
            {"type": "fallback", "agent": self.name, "purpose": purpose, "month": month, "used": used, "reason": reason}
        )


def chat(system: str, user: str) -> list[Message]:
    """One user turn: the system text as its first paragraph, as the reference sends it."""
    return [{"role": "user", "content": f"{system}\n{user}" if system else user}]


def prefilled(messages: Sequence[Message], text: str) -> list[Message]:
    """The chat with an open assistant turn holding ``text``, for the model to continue."""
    return [*messages, {"role": "assistant", "content": text}]


def continued(messages: Sequence[Message], reply: str, user: str) -> list[Message]:
    """The chat so far, the model's reply, and a new user turn."""
    return [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": user}]
