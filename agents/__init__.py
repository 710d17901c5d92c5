"""Agents: scripted societies, the generative LLM agent, and the plugin API (see base.py)."""

from agents.base import Agent, AgentContext, create, get, register, registered

__all__ = ["Agent", "AgentContext", "create", "get", "register", "registered"]
