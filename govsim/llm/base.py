"""The inference layer's one narrow interface: chat messages in, text out.

An ``LLM`` is two methods, as Concordia's language model is: ``await llm.complete(request)``
answers one request (many coroutines may await it at once: that is the batch), and
``await llm.aclose()`` releases the engine. Beside them it declares who it is and what it
can do (``CAPABILITIES``: name, model, whether it enforces constraints and serves LoRA
adapters, its default adapter). Backends (vllm, transformers, openai, fake) implement
``complete``; wrappers (the pool's views, the call logger, the bench's fixed lengths)
derive from ``ForwardingLLM``, which reads every capability through from the LLM it
wraps, and override only what they change. The layer knows nothing of agents, envs or
the web.

A request whose last message is the assistant's is a continuation: the chat template
leaves that turn open and the reply goes on from its text (how the reference prefills
"Answer: " and then reads only the number). ``continues(messages)`` says which it is.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Literal

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


def continues(messages: tuple[Message, ...] | list[Message]) -> bool:
    """Whether the reply continues the last message (an open assistant turn)."""
    return bool(messages) and messages[-1].get("role") == "assistant"


@dataclass(frozen=True)
class Sampling:
    """How a reply is drawn. ``min_tokens``: the end-of-sequence token is held back until
    the reply has that many tokens. vLLM (``min_tokens``) also holds back stop strings; the
    transformers backend, as transformers' ``min_new_tokens``, does not, and there a
    constrained reply that cannot go on once its pattern is met ends shorter. A backend
    that cannot honour it refuses the request; the fake backend, whose replies are
    scripted, applies no sampling setting."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 200
    stop: tuple[str, ...] = ()
    min_tokens: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ValueError(f"Sampling: min_tokens must be from 0 to max_tokens ({self.max_tokens}), got {self.min_tokens}")

    def as_dict(self) -> dict[str, Any]:
        """The settings as logged and fingerprinted; ``min_tokens`` only when set, so
        requests without it log and seed as they did before it existed."""
        settings = asdict(self)
        if not self.min_tokens:
            del settings["min_tokens"]
        return settings


@dataclass(frozen=True)
class Constraint:
    """An output constraint: a regex the whole reply must match, or a choice of strings."""

    regex: str | None = None
    choice: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.regex is None) == (self.choice is None):
            raise ValueError("Constraint takes exactly one of regex or choice")

    @property
    def pattern(self) -> str:
        """The regex a reply must match in full (a choice becomes an alternation)."""
        if self.choice is not None:
            return "(?:" + "|".join(re.escape(c) for c in self.choice) + ")"
        return self.regex  # type: ignore[return-value]

    def matches(self, text: str) -> bool:
        return re.fullmatch(self.pattern, text) is not None


@dataclass(frozen=True)
class Request:
    messages: tuple[Message, ...]
    sampling: Sampling = Sampling()
    constraint: Constraint | None = None
    adapter: str | None = None  # path of a LoRA adapter to apply to this request
    tags: tuple[tuple[str, Any], ...] = ()  # e.g. (("episode", 3), ("agent", "Kate"), ("purpose", "harvest"))

    @property
    def tag_dict(self) -> dict[str, Any]:
        return dict(self.tags)


@dataclass
class Completion:
    """A reply and what it cost. The fields after ``constrained`` are known only to some
    backends (None elsewhere); ``in_flight`` is filled in by ``LLMPool``."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    backend: str
    model: str
    finish_reason: Literal["stop", "length", "error"] | str = "stop"
    constrained: bool = False  # whether the backend enforced request.constraint
    cached_tokens: int | None = None  # prompt tokens read from the prefix cache (vllm)
    batch_size: int | None = None  # requests decoded in the same batch as this one (transformers)
    in_flight: int | None = None  # other calls in the engine when this one entered (the pool)


class LLMError(RuntimeError):
    """The backend could not answer (engine died, server unreachable); one-line message."""


def first_line(exc: BaseException) -> str:
    """An exception's first message line, for one-line ``LLMError`` messages."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class LLM(ABC):
    """A model behind ``complete`` and ``aclose``; the annotated class attributes are its capabilities."""

    name: str = "llm"
    model: str = ""
    supports_constraints: bool = False
    supports_adapters: bool = False
    default_adapter: str | None = None  # the LoRA applied to requests that name none

    @abstractmethod
    async def complete(self, request: Request) -> Completion:
        """The reply to ``request``. Safe to await from many coroutines at once (the backend
        batches what is in flight); raises ``LLMError`` with one line when it cannot answer."""

    async def aclose(self) -> None:  # noqa: B027 - not abstract: a model with nothing to release keeps this
        """Release the engine (processes, sockets). Safe to call twice."""


CAPABILITIES: tuple[str, ...] = tuple(LLM.__annotations__)  # identity and capabilities a wrapper forwards


class _Forwarded:
    """A capability read from the wrapped LLM at every access, unless the wrapper assigned its own."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, wrapper: ForwardingLLM | None, owner: type | None = None) -> Any:
        if wrapper is None:
            return self
        own = wrapper.__dict__
        return own[self.name] if self.name in own else getattr(wrapper.inner, self.name)

    def __set__(self, wrapper: ForwardingLLM, value: Any) -> None:
        wrapper.__dict__[self.name] = value


class ForwardingLLM(LLM):
    """An LLM around another (``inner``): every capability is the inner one's unless this
    wrapper assigns its own (``self.default_adapter = ...``), and ``complete`` forwards.
    ``aclose`` does nothing: whoever built the inner LLM closes it."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner

    async def complete(self, request: Request) -> Completion:
        return await self.inner.complete(request)


for _name in CAPABILITIES:
    setattr(ForwardingLLM, _name, _Forwarded(_name))
del _name
