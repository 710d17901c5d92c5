"""The generative agent (after Park et al. 2023 and GovSim's agent), built from components.

- ``memory``: the memory stream; ``retrieval``: recency + importance + relevance.
- ``perceive``: observation -> new memories; ``importance``: rate a memory 1-10.
- ``harvest``, ``converse``, ``summarize``, ``reflect``: one decision each.
- ``asking``: ask the model, retry under constraints, report parse failures and fallbacks.
- ``templates``: the scenario's prompt templates and the fields each one gets.
- ``agent``: ``GenerativeAgent``, registered as agent type ``generative``.
"""

from agents.generative.agent import GenerativeAgent

__all__ = ["GenerativeAgent"]
