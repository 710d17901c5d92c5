"""The inference layer: the interface (base.py), its backends, the pool and the call logger.

Backends load lazily (torch, vLLM and openai are imported only by the backend that needs them).
"""

from govsim.llm.base import LLM, Completion, Constraint, ForwardingLLM, LLMError, Message, Request, Sampling
from govsim.llm.embedded import resolve_model
from govsim.llm.logged import LoggedLLM
from govsim.llm.pool import LLMPool, make_llm, resolve_backend

__all__ = [
    "LLM",
    "Completion",
    "Constraint",
    "ForwardingLLM",
    "LLMError",
    "LLMPool",
    "LoggedLLM",
    "Message",
    "Request",
    "Sampling",
    "make_llm",
    "resolve_backend",
    "resolve_model",
]
