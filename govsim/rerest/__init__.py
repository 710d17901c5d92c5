"""Re-ReST (reflection-reinforced self-training, Dou et al. 2024) applied to the commons.

An iteration (``pipeline``): episodes with generative agents on training seeds; their
harvest prompts are read back from the run logs (``decisions``); the agent model draws k
samples per prompt (``sample``), each drawn and read as the agent's own first reply
(``reply``: reasoning to the answer marker within the agent's budget, then the number)
and checked by the environment with numeric feedback (``score``, wording in
``templates.yaml`` via ``texts``); a reflector writes a short correction of each failed
one in the same form, kept only if it passes the same check (``reflect``); the passing
samples and corrections become training sets (``datasets``); LoRA adapters are trained
with TRL, continuing the previous iteration's (``train``): the reflector, the agent on
D_M + D_R (Re-ReST) and on D_M alone (self-training). Each adapter then answers the same
held-out prompts as the base model (``fixed``) and plays the held-out episodes
(``evaluate``); ``summary`` writes the tables. Every stage is checkpointed (``stages``).
Entry point: ``govsim rerest CONFIG`` (``command``). The package imports none of its
modules, so a reader of the results' names (``results``, the dashboard) loads no engine.
"""
