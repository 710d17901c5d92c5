"""The generative agent (after Park et al. 2023 and GovSim's agent), built from components of one shape.

Every component is ``async (ctx: Context) -> part``; the agent builds one ``Context`` per
step and composes the components through its phase table (``agent.DECISIONS``):

- ``context``: ``Context`` (asker, prompts, params, mind, moment) and ``Moment`` (the step);
- ``agent``: ``GenerativeAgent`` (agent type ``generative``): clock, perceive, remember, decide;
- ``params``: the seat's parameters, typed and validated (``GenerativeParams``);
- observers: ``perceive`` (the stock, the hint, the own catch), ``civic`` (the institutions' news);
- decisions: ``harvest``, ``converse``, ``summarize``, ``reflect`` (and ``after_talk``),
  ``agenda``, ``vote``, ``sanction``: one phase each, each returning its part of the action;
- memory: ``mind`` (what comes to mind for a decision, storing what is new), ``importance``
  (rate a memory 1-10), ``memory`` (the stream and its dates), ``retrieval`` (the scores);
- ``asking``: ask the model, retry under constraints, report parse failures and fallbacks;
- ``templates``: the scenario's prompt templates and the fields each one gets.
"""

from agents.generative.agent import GenerativeAgent

__all__ = ["GenerativeAgent"]
