"""The configuration of a Re-ReST experiment: one validated pydantic model from a YAML file.

``run`` is an ordinary govsim run config (what ``govsim run -c`` reads, including
``llm``); its seats default to the ``generative`` agent. It defines the episodes used
for sampling (on ``train_seeds``) and for evaluation (on ``eval_seeds``), and the LLM
settings used for sampling and reflection. Unknown keys and bad values raise
``ConfigError`` with one line, as everywhere in govsim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from govsim import scenarios
from govsim.config import ConfigError, RunConfig, deep_merge, describe_error, load_file, resolve, set_path
from govsim.scenarios import ScenarioError
from govsim.strict import Strict


class SamplingSpec(Strict):
    """How the agent model's k samples per decision input are drawn (also the k sampled
    replies per prompt of the fixed-input evaluation)."""

    k: int = Field(4, ge=1)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)  # of the reasoning; None: the agent's budget, run.llm.max_tokens


class ReflectionSpec(Strict):
    """The reflector: by default the agent's base model with the reflection prompt.

    A correction is an agent reply: a short reasoning (at most ``max_tokens``; one cut
    there keeps its full sentences), then 'Answer: ' and the amount. ``answer`` says how
    the amount is written: ``bounded``, continued under a constraint to the amounts that
    pass this decision (1 to f(h), lowered to an agreed limit; 0 when nothing can be
    taken): the reflector uses what the environment's feedback tells it, as a
    training-time tool may; ``digits``, under the agent's own digits-only constraint, so
    the reflector must find the amount itself; ``free``, one unconstrained reply whose own
    answer line is read. Backends without constraints write freely. Either way a
    correction passes only if, read as the agent's first reply within the agent's budget,
    it passes the check.
    """

    model: str | None = None  # another model for the reflector; None: run.llm.model
    temperature: float = Field(0.7, ge=0)
    # Short on purpose (issue 12): corrections with at most ~40 tokens before the answer
    # taught the agent; long free text did not (the answer line drowned in the loss).
    max_tokens: int = Field(48, ge=1)
    use_trained: bool = True  # reflect with the reflector adapter trained in the previous iteration
    # the last iteration's reflector adapter serves no stage (it would reflect in the next
    # iteration); true trains it anyway, for its losses. On CPU it is the longest training
    # (its rows hold prompt, failed reply and correction): 2,900 s of the fishery run's iteration 1.
    train_last: bool = False
    # bounded by default: without it the embedded 135M reflector wrote no passing amount in
    # the tiny run (it continues 'Answer: ' with digits of the prompt's dates, e.g. 202)
    answer: Literal["bounded", "digits", "free"] = "bounded"


class TrainingSpec(Strict):
    """LoRA fine-tuning; defaults are the paper's (Dou et al. 2024)."""

    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "v_proj"]
    learning_rate: float = Field(3e-4, gt=0)
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1)  # overrides epochs when set
    max_seq_len: int = Field(2048, ge=32)  # longer examples are left out (counted), never truncated
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    bf16: bool = True
    seed: int = 0
    save_steps: int = Field(50, ge=1)  # trainer checkpoints, so a killed training resumes
    # held-out loss on a seeded sample of at most this many held-out rows (None: all); one pass
    # over all 281 reflector rows of the fishery run took 19 min on one CPU thread, four per adapter
    heldout_rows: int | None = Field(64, ge=1)
    dpo_beta: float = Field(0.1, gt=0)  # the DPO variant's beta (TRL's default)


class SubskillSpec(Strict):
    """Held-out questions for every method: items of the paper's subskill tests
    (``govsim/subskills.py``) at stocks the training prompts never had, asked greedily
    within the agent's budget. An empty ``tests`` asks none."""

    tests: list[str] = ["sim_choose", "sim_choose_universalization"]  # "how much will you take?" at stocks 10-100
    items: int = Field(150, ge=1)  # per test (the reference's 150)
    seed: int = 0  # of the items

    @model_validator(mode="after")
    def _known(self) -> SubskillSpec:
        from govsim import subskills

        known = subskills.templates().tests
        unknown = [t for t in self.tests if t not in known]
        if unknown:
            raise ValueError(f"subskill test {unknown[0]!r} is unknown; known: {', '.join(known)}")
        return self


class ReRestConfig(Strict):
    out: str = "runs/rerest"
    run: dict[str, Any] = {}
    train_seeds: list[int] = Field([0, 1, 2], min_length=1)
    eval_seeds: list[int] = Field([100, 101, 102], min_length=1)
    iterations: int = Field(1, ge=1)
    sampling: SamplingSpec = SamplingSpec()
    reflection: ReflectionSpec = ReflectionSpec()
    training: TrainingSpec = TrainingSpec()
    # The paper's preference variant as a fourth method: an adapter trained with DPO on the
    # Re-ReST data's (passing, failed) reply pairs; off by default (it costs a training and
    # an evaluation more).
    dpo: bool = False
    subskills: SubskillSpec = SubskillSpec()
    templates: str | None = None  # feedback/reflection wording; None: govsim/rerest/templates.yaml
    # torch threads of this process (transformers inference and training); None keeps torch's
    # default. Every training gets them back after a vLLM engine's start set them to 1. On a
    # CPU shared with other busy processes, 1 avoids OpenMP threads spinning
    # against each other (measured: 64 tokens in 6 s with 1 thread, 213 s with 2).
    threads: int | None = Field(None, ge=1)
    # Serve each trained adapter merged into the weights (govsim/llm/merged.py), on an engine
    # of its own started when its stages begin, instead of as LoRA on the shared engine:
    # 1.75-2.9x faster on vLLM-CPU (docs/models.md); greedy replies can differ in late tokens,
    # and a copy whose logits stray more than 1.5x as far as LoRA's in bf16 is refused.
    merge_adapters: bool = False
    # Scenarios the last iteration's adapters are also evaluated on (fixed inputs and
    # episodes on eval_seeds, against the base model there): transfer beyond the training scenario.
    transfer: list[str] = []

    @model_validator(mode="after")
    def _held_out(self) -> ReRestConfig:
        shared = sorted(set(self.train_seeds) & set(self.eval_seeds))
        if shared:
            raise ValueError(f"eval_seeds must be held out from train_seeds; both have {shared}")
        return self

    def run_config(self, scenario: str | None = None) -> RunConfig:
        """The episode template (seed 0), in ``scenario`` if given; seats are generative
        unless the file says otherwise."""
        data = deep_merge({"agent": "generative"}, self.run)
        if scenario is not None:
            data["scenario"] = scenario
        return resolve(data.get("experiment", "default"), file=data)


# Where and how a run is executed, or what it adds without changing a finished stage: a
# resumed run may change these (a run folder moved elsewhere resumes there).
EXECUTION_KEYS = (
    ("out",), ("threads",), ("merge_adapters",), ("training", "save_steps"), ("reflection", "train_last"),
)


def identity(data: dict[str, Any]) -> dict[str, Any]:
    """What a run's finished stages depend on: the config validated (keys added since get their
    defaults), without ``EXECUTION_KEYS``. Resuming is refused when it differs."""
    dumped = ReRestConfig.model_validate(data).model_dump(mode="json")
    for *parents, key in EXECUTION_KEYS:
        node = dumped
        for parent in parents:
            node = node[parent]
        node.pop(key)
    return dumped


def load(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ReRestConfig:
    """Read, merge ``key.path=value`` overrides, validate; every failure is one ``ConfigError`` line."""
    import agents

    data = load_file(path) if path else {}
    for key, value in (overrides or {}).items():
        set_path(data, key, value)
    try:
        config = ReRestConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, ReRestConfig)) from None
    try:
        run = config.run_config()
        for seat in run.agents:
            agents.get(seat.type)
    except (ConfigError, ScenarioError) as exc:
        raise ConfigError(f"run: {str(exc).removeprefix('config: ')}") from None
    except KeyError as exc:
        raise ConfigError(f"run: {str(exc).strip(chr(39) + chr(34))}") from None
    for scenario in config.transfer:
        if scenario == run.scenario:
            raise ConfigError(f"transfer: {scenario!r} is the training scenario; list only other scenarios")
        try:
            scenarios.load(scenario)
        except ScenarioError as exc:
            raise ConfigError(f"transfer: {exc}") from None
    return config
