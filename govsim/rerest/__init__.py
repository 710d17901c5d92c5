"""Re-ReST (reflection-reinforced self-training, Dou et al. 2024) applied to the commons.

An iteration (``pipeline``): episodes with generative agents on training seeds; their
harvest prompts are read back from the run logs (``decisions``); the agent model draws k
samples per prompt (``sample``), each checked by the environment with numeric feedback
(``score``, wording in ``templates.yaml`` via ``texts``); a reflector corrects the failed
ones (``reflect``); the passing samples and corrections become training sets
(``datasets``); LoRA adapters are trained with TRL (``train``): the reflector, the agent
on D_M + D_R (Re-ReST) and on D_M alone (self-training); each adapter is evaluated in the
simulation on held-out seeds against the base model (``evaluate``, ``summary``). Every
stage is checkpointed (``stages``). Entry point: ``govsim rerest CONFIG``.
"""

from govsim.rerest.config import ReRestConfig, load
from govsim.rerest.pipeline import run_experiment

__all__ = ["ReRestConfig", "load", "run_experiment"]
