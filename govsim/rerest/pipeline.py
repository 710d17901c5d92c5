"""One Re-ReST experiment: iterations of sample, score, reflect, build, train, evaluate.

Output directory layout (every stage recorded in ``stages.json``, see ``stages``):

    rerest_config.json, stages.json, rerest_summary.md, rerest_summary.csv
    eval_base/seed<N>/                      the base model on the held-out seeds
    iter<i>/episodes/<policy>/seed<N>/      episodes on the training seeds (decision inputs)
    iter<i>/samples/<policy>/decisions.jsonl, samples.jsonl
    iter<i>/reflections.jsonl
    iter<i>/data/d_m.jsonl, d_r.jsonl, agent_rerest.jsonl, agent_self_training.jsonl, reflector.jsonl
    iter<i>/adapters/{reflector,rerest,self_training}/
    iter<i>/eval/{rerest,self_training}/seed<N>/

With ``dpo``, ``data/dpo.jsonl`` and ``adapters/dpo`` (the DPO variant, trained on the
Re-ReST track's data) are added and evaluated beside the others.

The inference engines are shut down before training and started again afterwards: an
idle vLLM CPU worker keeps polling (measured: a quarter of a core) and holds its KV cache,
both of which training needs more.

Policies: in iteration 1 both methods sample from the base model (one shared sample set);
later, each method samples from its own adapter of the previous iteration (the baseline
must not profit from Re-ReST's data), and a fresh LoRA is trained from the base model on
that iteration's data. The reflector reflects with its adapter of the previous iteration
(``reflection.use_trained``), else the base model; the reflector trained in iteration i
therefore first serves in iteration i+1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govsim import scenarios
from govsim.config import LLMConfig, RunConfig
from govsim.llm.base import LLM
from govsim.llm.embedded import resolve_model
from govsim.llm.pool import Factory, LLMPool, make_llm
from govsim.rerest import datasets, evaluate, summary
from govsim.rerest.config import ReRestConfig
from govsim.rerest.decisions import Decision, from_runs
from govsim.rerest.reflect import reflect
from govsim.rerest.sample import draw_samples, pass_rate
from govsim.rerest.stages import Stages, read_jsonl, write_jsonl
from govsim.rerest.texts import Texts
from govsim.rerest.train import train_lora

METHODS = ("self_training", "rerest")
BASE = "base"


@dataclass
class Policy:
    name: str  # "base" or "<method><iteration>", e.g. "rerest1"
    adapter: str | None


class Experiment:
    def __init__(self, config: ReRestConfig, pool: Any, stages: Stages, progress: bool = True) -> None:
        self.config = config
        self.out = stages.out
        self.stages = stages
        self.pool = pool
        self.progress = progress
        self.template: RunConfig = config.run_config()
        self.methods = METHODS + (("dpo",) if config.dpo else ())  # the adapters trained and evaluated
        self.texts = Texts(scenarios.load(self.template.scenario), config.templates)

    # ------------------------------------------------------------------ models

    def agent_llm(self) -> LLM:
        return self.pool.get(self.template.llm)

    def reflector_llm(self) -> LLM:
        return self.pool.get(self.template.llm, model=self.config.reflection.model)

    def adapter_of(self, name: str, iteration: int) -> Policy:
        """The newest adapter trained for ``name`` up to ``iteration`` (the base model if none)."""
        for i in range(iteration, 0, -1):
            stage = f"i{i}.train.{name}"
            if self.stages.done(stage) and self.stages.result(stage)["adapter"]:
                return Policy(f"{name}{i}", self.stages.result(stage)["adapter"])
        return Policy(BASE, None)

    # ------------------------------------------------------------------ an iteration

    async def iteration(self, i: int) -> None:
        run = self.stages.run
        root = self.out / f"iter{i}"
        policies = {m: self.adapter_of(m, i - 1) for m in METHODS}
        for policy in {p.name: p for p in policies.values()}.values():
            episodes = root / "episodes" / policy.name
            jobs = evaluate.jobs_for(self.template, self.config.train_seeds, policy.adapter, episodes)
            await run(f"i{i}.episodes.{policy.name}", lambda: self._play(jobs))
            await run(f"i{i}.sample.{policy.name}", lambda: self._sample(episodes, root / "samples" / policy.name, policy))
        rerest_dir = root / "samples" / policies["rerest"].name
        await run(f"i{i}.reflect", lambda: self._reflect(rerest_dir, root / "reflections.jsonl", i))
        data = root / "data"
        await run(f"i{i}.datasets", lambda: self._datasets(rerest_dir, root / "samples" / policies["self_training"].name, root, data))
        reflector_model = resolve_model(self.config.reflection.model or self.template.llm.model)
        agent_model = resolve_model(self.template.llm.model)
        trainings = [("reflector", reflector_model, "reflector.jsonl", "sft")]
        trainings += [(m, agent_model, f"agent_{m}.jsonl", "sft") for m in METHODS]
        trainings += [("dpo", agent_model, "dpo.jsonl", "dpo")] if self.config.dpo else []
        if not all(self.stages.done(f"i{i}.train.{name}") for name, *_ in trainings):
            await self.pool.aclose()  # the pool starts its engines again on the next call
        for name, model, dataset, objective in trainings:
            await run(f"i{i}.train.{name}", lambda: self._train(model, data / dataset, root / "adapters" / name, objective))
        await run(f"i{i}.eval", lambda: self._evaluate(i))
        await run(f"i{i}.check", lambda: self._check(i))

    async def _play(self, jobs: list) -> dict[str, Any]:
        await evaluate.play(self.pool, jobs, self.progress)
        return {"episodes": len(jobs)}

    async def _sample(self, episodes: Path, folder: Path, policy: Policy) -> dict[str, Any]:
        decisions = from_runs([episodes])
        samples = await draw_samples(self.agent_llm(), decisions, self.config.sampling, policy.adapter, self.texts, self.progress)
        write_jsonl(folder / "decisions.jsonl", (d.to_json() for d in decisions))
        write_jsonl(folder / "samples.jsonl", samples)
        return {"decisions": len(decisions), "samples": len(samples), "pass_rate": pass_rate(samples)}

    async def _reflect(self, samples_dir: Path, target: Path, i: int) -> dict[str, Any]:
        decisions = load_decisions(samples_dir)
        reflector = self.adapter_of("reflector", i - 1) if self.config.reflection.use_trained else Policy(BASE, None)
        rows = await reflect(
            self.reflector_llm(), decisions, read_jsonl(samples_dir / "samples.jsonl"), self.config.reflection,
            reflector.adapter, self.texts, self.progress,
        )
        write_jsonl(target, rows)
        return {"reflector": reflector.name, "reflections": len(rows), "pass_rate": pass_rate(rows)}

    def _datasets(self, rerest_dir: Path, self_dir: Path, root: Path, data: Path) -> dict[str, int]:
        decisions = load_decisions(rerest_dir)
        samples = read_jsonl(rerest_dir / "samples.jsonl")
        reflections = read_jsonl(root / "reflections.jsonl")
        d_m = datasets.agent_examples(decisions, samples, "sample")
        d_r = datasets.agent_examples(decisions, reflections, "correction")
        self_samples = read_jsonl(self_dir / "samples.jsonl")
        sets = {
            "d_m": d_m,
            "d_r": d_r,
            "agent_rerest": datasets.unique(d_m + d_r),
            "agent_self_training": datasets.agent_examples(load_decisions(self_dir), self_samples, "sample"),
            "reflector": datasets.reflector_examples(decisions, samples, reflections, self.texts),
        }
        if self.config.dpo:
            sets["dpo"] = datasets.preference_pairs(decisions, samples, reflections)
        return {name: write_jsonl(data / f"{name}.jsonl", rows) for name, rows in sets.items()}

    async def _train(self, model: str, dataset: Path, adapter: Path, objective: str) -> dict[str, Any]:
        return await asyncio.to_thread(train_lora, model, dataset, adapter, self.config.training, self.progress, objective)

    def eval_roots(self, i: int) -> dict[str, tuple[Path, str | None]]:
        """Where each method of iteration i is evaluated, and with which adapter (untrained ones left out)."""
        roots = {BASE: (self.out / "eval_base", None)} if i == 1 else {}
        for method in self.methods:
            adapter = self.stages.result(f"i{i}.train.{method}")["adapter"]
            if adapter:
                roots[method] = (self.out / f"iter{i}" / "eval" / method, adapter)
        return roots

    async def _evaluate(self, i: int) -> dict[str, Any]:
        jobs = [
            job
            for root, adapter in self.eval_roots(i).values()
            for job in evaluate.jobs_for(self.template, self.config.eval_seeds, adapter, root)
        ]
        await evaluate.play(self.pool, jobs, self.progress)
        return {"episodes": len(jobs)}

    async def _check(self, i: int) -> dict[str, Any]:
        probe = list(load_decisions(self.out / f"iter{i}" / "samples" / self.adapter_of("rerest", i - 1).name).values())
        checks = {}
        for method, (root, adapter) in self.eval_roots(i).items():
            check: dict[str, Any] = {
                "reply_pass_rate": evaluate.reply_pass_rate(root, self.texts),
                "logged_adapters": evaluate.logged_adapters(root),
            }
            if adapter and self.config.adapter_check:
                check["greedy"] = await evaluate.adapter_effect(
                    self.agent_llm(), probe, adapter, self.config.adapter_check, self.config.sampling.max_tokens, self.progress
                )
            checks[method] = check
        return checks


def normalized(data: dict[str, Any]) -> dict[str, Any]:
    return ReRestConfig.model_validate(data).model_dump(mode="json")


def load_decisions(folder: Path) -> dict[str, Decision]:
    return {row["id"]: Decision.from_json(row) for row in read_jsonl(folder / "decisions.jsonl")}


def lora_ready(rank: int) -> Factory:
    """``make_llm``, except that vLLM engines start with LoRA enabled: Re-ReST asks the
    engine it sampled with for adapters trained later, and vLLM cannot enable LoRA then."""

    def make(backend: str, model: str, config: LLMConfig, seed: int = 0) -> LLM:
        if backend != "vllm":
            return make_llm(backend, model, config, seed)
        from govsim.llm.vllm_backend import VLLMLLM, lora_rank

        return VLLMLLM(
            resolve_model(model), seed=seed, max_model_len=config.max_model_len,
            enable_lora=True, max_lora_rank=max(rank, lora_rank(None)),
        )

    return make


async def run_experiment(config: ReRestConfig, restart: bool = False, progress: bool = True, pool: Any = None) -> Path:
    """Run (or resume) every iteration; returns the summary table's path."""
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    stages = Stages(config.out, config.model_dump(mode="json"), restart=restart, normalize=normalized)
    template = config.run_config()
    own = pool is None
    pool = pool or LLMPool(template.llm, factory=lora_ready(config.training.r))
    try:
        experiment = Experiment(config, pool, stages, progress)
        for i in range(1, config.iterations + 1):
            await experiment.iteration(i)
            path = summary.write(experiment)
    finally:
        if own:
            await pool.aclose()
    return path
