"""Agents: scripted societies, the generative LLM agent, and the plugin API (see base.py).

Importing this package imports no agent type; ``get(name)`` loads one (``base.BUILTIN``
lists the built-in ones, installed packages add theirs through entry points).
"""

from agents.base import Agent, AgentContext, create, get, names, register, registered
from agents.params import AgentParams, parse_params

__all__ = ["Agent", "AgentContext", "AgentParams", "create", "get", "names", "parse_params", "register", "registered"]
