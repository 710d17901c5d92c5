"""The inference layer: the interface (base.py) and its backends."""

from govsim.llm.base import LLM, Completion, Constraint, LLMError, Message, Request, Sampling

__all__ = ["LLM", "Completion", "Constraint", "LLMError", "Message", "Request", "Sampling"]
