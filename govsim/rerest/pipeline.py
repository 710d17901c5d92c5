"""One Re-ReST experiment: iterations of sample, score, reflect, build, train, evaluate.

Output directory layout (every stage recorded in ``stages.json``, see ``stages``):

    rerest_config.json, stages.json, rerest_summary.md, rerest_summary.csv, rerest_losses.csv, rerest_episodes.csv
    eval_base/seed<N>/                      the base model's episodes on the held-out seeds
    fixed/decisions.jsonl, base.jsonl       their distinct harvest prompts, the base model's answers
    subskills/base.jsonl                    the base model's answers to the held-out subskill items
    fixed/heldout_reflections.jsonl         the base reflector's corrections of the failed ones
    fixed/heldout_{agent,reflector,dpo}.jsonl   held-out rows for the training losses
    iter<i>/episodes/<policy>/seed<N>/      episodes on the training seeds (decision inputs)
    iter<i>/samples/<policy>/decisions.jsonl, samples.jsonl
    iter<i>/reflections.jsonl
    iter<i>/data/d_m.jsonl, d_r.jsonl, agent_rerest.jsonl, agent_self_training.jsonl, reflector.jsonl
    iter<i>/adapters/{reflector,rerest,self_training}/
    iter<i>/fixed/<method>.jsonl            each adapter's answers to the fixed held-out prompts
    iter<i>/subskills/<method>.jsonl        each adapter's answers to the subskill items
    iter<i>/eval/<method>/seed<N>/          each adapter's episodes on the held-out seeds
    transfer/<scenario>/...                 eval_base/, fixed/, subskills/, eval/<method>/ for ``transfer``

With ``dpo``, ``data/dpo.jsonl`` and ``adapters/dpo`` (the DPO variant, trained on the
Re-ReST track's data) are added and evaluated beside the others.

Order and batching: in iteration 1 the base model plays the training and the held-out
episodes together, then draws the samples and answers the fixed prompts together, then
corrects the failed samples and the failed held-out replies together (one engine, shared
batches; the corrected held-out replies only give held-out losses). The inference engines
are shut down before training and started again afterwards: an idle vLLM CPU worker keeps
polling (measured: a quarter of a core) and holds its KV cache, both of which training
needs more. After training every method
answers the fixed prompts and the subskill items, then plays its held-out episodes, all of
one method at once.

With ``merge_adapters`` each adapter is served merged into the weights on an engine of its
own (``govsim.llm.merged``), and the stages are grouped by adapter: each group starts with
no other engine open (two vLLM engines would share the cores), so the adapters' fixed-input
and subskill stages run one adapter after another. Every stage records the setting it finished
under (``merge_adapters``; a stage resumed under the other one mixes both); the option may
change on resume.

Held out, and not: the fixed prompts come from episodes on other seeds, but episodes can
reach the same prompt word for word (on the paper profile every seed's month 1 reads the
same), and the summary says how many are also training prompts. The subskill items
(``subskills``: "how much will you take?" at stocks 10-100, with persona and memories) are
worded and numbered as no training prompt is.

Policies: in iteration 1 both methods sample from the base model (one shared sample set);
later, each method samples from its own adapter of the previous iteration (the baseline
must not profit from Re-ReST's data), and each adapter (the reflector's too) goes on
training from its adapter of the previous iteration on the new data. The reflector
reflects with its adapter of the previous iteration (``reflection.use_trained``), else the
base model; the reflector trained in iteration i therefore first serves in iteration i+1,
and the last iteration trains none unless ``reflection.train_last``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from govsim import scenarios, subskills
from govsim.config import ConfigError, RunConfig
from govsim.llm import merged
from govsim.llm.base import LLM
from govsim.llm.embedded import resolve_model
from govsim.llm.pool import LLMPool, make_llm, resolve_backend
from govsim.rerest import datasets, evaluate, fixed, summary
from govsim.rerest.config import ReRestConfig, identity
from govsim.rerest.decisions import Decision, from_runs
from govsim.rerest.reflect import reflect
from govsim.rerest.reply import Reader, token_counter
from govsim.rerest.results import BASE, DPO, METHODS
from govsim.rerest.sample import draw_samples, kinds, pass_rate
from govsim.rerest.stages import STAGES_FILE, Stages, read_jsonl, write_jsonl
from govsim.rerest.texts import Texts
from govsim.rerest.train import train_lora

HELDOUT = {"reflector": "reflector", "self_training": "agent", "rerest": "agent", "dpo": "dpo"}  # held-out rows per adapter
MERGE_PROBES = 2  # held-out rows a merged copy is measured on against LoRA


@dataclass
class Policy:
    name: str  # "base" or "<method><iteration>", e.g. "rerest1"
    adapter: str | None


@dataclass
class Track:
    """A scenario the adapters are evaluated in: the training scenario, or one of ``transfer``."""

    stage: str  # prefix of its stage names: "base" (the training scenario) or "transfer.<scenario>"
    template: RunConfig
    texts: Texts
    root: Path  # holds eval_base/ and fixed/


class Experiment:
    def __init__(
        self, config: ReRestConfig, pool: Any, stages: Stages, progress: bool = True, threads: int | None = None
    ) -> None:
        self.config = config
        self.threads = threads  # torch threads of every training (None: leave them as they are)
        self.out = stages.out
        self.stages = stages
        self.pool = pool
        self.progress = progress
        self.template: RunConfig = config.run_config()
        self.methods = METHODS + ((DPO,) if config.dpo else ())  # the adapters trained and evaluated
        self.texts = Texts(scenarios.load(self.template.scenario), config.templates)
        self.budget = self.template.llm.max_tokens  # the agent's reply budget
        llm = self.template.llm
        self.reader = Reader(self.budget, token_counter(resolve_backend(llm.backend), llm.model))
        self.home = Track(BASE, self.template, self.texts, self.out)
        self._open: set[str | None] | None = None  # with merged adapters: those the open engines serve

    def track(self, scenario: str) -> Track:
        template = self.config.run_config(scenario)
        texts = Texts(scenarios.load(template.scenario), self.config.templates)
        return Track(f"transfer.{scenario}", template, texts, self.out / "transfer" / scenario)

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

    def samples_of(self, method: str, i: int) -> Path:
        """The samples ``method`` learns from in iteration i: those of its policy after iteration i - 1."""
        return self.out / f"iter{i}" / "samples" / self.adapter_of(method, i - 1).name

    # ------------------------------------------------------------------ an iteration

    async def iteration(self, i: int) -> None:
        run = self.stages.run
        root = self.out / f"iter{i}"
        policies = {m: self.adapter_of(m, i - 1) for m in METHODS}
        for policy in {p.name: p for p in policies.values()}.values():
            episodes = root / "episodes" / policy.name
            jobs = evaluate.jobs_for(self.template, self.config.train_seeds, policy.adapter, episodes)
            held_out = policy.adapter is None  # the base model's held-out work shares its engine and batches
            group = [f"i{i}.episodes.{policy.name}", f"i{i}.sample.{policy.name}"]
            group += self._base_stages(self.home) if held_out else []
            await self._serving({policy.adapter: self.template.llm.model}, group)
            await asyncio.gather(
                run(f"i{i}.episodes.{policy.name}", lambda jobs=jobs: self._play(jobs)),
                *([self._base_episodes(self.home)] if held_out else []),
            )
            await asyncio.gather(
                run(f"i{i}.sample.{policy.name}", lambda e=episodes, p=policy: self._sample(e, root / "samples" / p.name, p)),
                *([self._base_fixed(self.home)] if held_out else []),
            )
        rerest_dir = self.samples_of("rerest", i)
        reflector_model = self.config.reflection.model or self.template.llm.model
        await self._serving({self._reflector(i).adapter: reflector_model}, [f"i{i}.reflect", "base.heldout"])
        await asyncio.gather(  # in iteration 1 both reflect with the base model: shared batches
            run(f"i{i}.reflect", lambda: self._reflect(rerest_dir, root / "reflections.jsonl", i)),
            run("base.heldout", self._heldout),
        )
        data = root / "data"
        self_training_dir = self.samples_of("self_training", i)
        await run(f"i{i}.datasets", lambda: self._datasets(rerest_dir, self_training_dir, root, data))
        reflector_model = resolve_model(reflector_model)
        agent_model = resolve_model(self.template.llm.model)
        train_reflector = i < self.config.iterations or self.config.reflection.train_last
        trainings = [("reflector", reflector_model, "reflector.jsonl", "sft")] if train_reflector else []
        trainings += [(m, agent_model, f"agent_{m}.jsonl", "sft") for m in METHODS]
        trainings += [(DPO, agent_model, "dpo.jsonl", "dpo")] if self.config.dpo else []
        if not all(self.stages.done(f"i{i}.train.{name}") for name, *_ in trainings):
            await self._close_engines()  # the pool starts its engines again on the next call
        for name, model, dataset, objective in trainings:
            init = self.adapter_of(name, i - 1).adapter
            await run(
                f"i{i}.train.{name}",
                lambda name=name, model=model, dataset=dataset, objective=objective, init=init: self._train(
                    model, data / dataset, root / "adapters" / name, objective, init,
                    self.out / "fixed" / f"heldout_{HELDOUT[name]}.jsonl",
                ),
            )
        await self._evaluate(self.home, {m: self.trained(i, m) for m in self.methods}, i)
        await run(f"i{i}.check", lambda: self._check(i))

    def answers(self, track: Track, method: str, i: int, what: str) -> tuple[str, Path]:
        """The stage and reply file of ``method``'s answers to the track's fixed prompts
        (``what`` "fixed") or subskill items ("subskills"): the base model's are the track's
        own; an adapter's, iteration i's at home and the track's in transfer."""
        if method == BASE:
            return f"{track.stage}.{what}", track.root / what / "base.jsonl"
        prefix, root = self._place(track, i)
        return f"{prefix}.{what}.{method}", root / what / f"{method}.jsonl"

    def episodes_of(self, track: Track, method: str, i: int) -> Path:
        """Where ``method``'s held-out episodes on the track are: the base model's are the
        track's own; an adapter's, iteration i's at home and the track's in transfer."""
        return track.root / "eval_base" if method == BASE else self._place(track, i)[1] / "eval" / method

    def _place(self, track: Track, i: int) -> tuple[str, Path]:
        """The stage prefix and folder of iteration i's adapters' evaluations on the track."""
        return (f"i{i}", self.out / f"iter{i}") if track is self.home else (track.stage, track.root)

    def trained(self, i: int, method: str) -> str | None:
        """The adapter of ``method`` trained in iteration i (None if not trained, or not yet)."""
        stage = f"i{i}.train.{method}"
        return self.stages.result(stage)["adapter"] if self.stages.done(stage) else None

    async def _evaluate(self, track: Track, adapters: dict[str, str | None], i: int) -> None:
        """Each trained adapter (method -> adapter, None: untrained) of iteration i on the
        track's fixed prompts and subskill items, then in its held-out episodes. Served as
        LoRA, all adapters answer at once, then play one method at a time; merged, each
        adapter does both before the next one's engine starts."""
        trained = {m: a for m, a in adapters.items() if a}
        prefix = self._place(track, i)[0]

        async def answer(group: dict[str, str]) -> None:
            await asyncio.gather(
                *(self._fixed(track, m, a, i) for m, a in group.items()),
                *(self._subskills(track, m, a, i) for m, a in group.items()),
            )

        async def play(m: str, adapter: str) -> None:
            jobs = evaluate.jobs_for(track.template, self.config.eval_seeds, adapter, self.episodes_of(track, m, i))
            await self.stages.run(f"{prefix}.eval.{m}", lambda: self._play(jobs))

        if not self.config.merge_adapters:
            await answer(trained)
            for m, adapter in trained.items():
                await play(m, adapter)
            return
        for m, adapter in trained.items():
            asked = [self.answers(track, m, i, "fixed")[0], f"{prefix}.eval.{m}"]
            await self._serving({adapter: self.template.llm.model}, asked + self._subskill_stages(track, m, i))
            await answer({m: adapter})
            await play(m, adapter)

    async def _serving(self, adapters: dict[str | None, str], stages: list[str]) -> None:
        """Before a group of ``stages`` serving ``adapters`` (adapter -> its base model; None:
        the base model), with merged adapters and a stage of the group left to run: each
        adapter is merged (a stage of its own; a copy deleted since is made again), and
        unless the group's engines are the ones open, every engine is closed, so the group's
        start alone on their first call."""
        if not self.config.merge_adapters or all(self.stages.done(s) for s in stages):
            return
        if set(adapters) != self._open:
            await self._close_engines()
            self._open = set(adapters)
        for adapter, model in adapters.items():
            if adapter:
                stage = self._merge_stage(adapter)
                merge = partial(asyncio.to_thread, self._with_threads, self._merged, model, adapter)
                await (merge() if self.stages.done(stage) else self.stages.run(stage, merge))

    async def _close_engines(self) -> None:
        await self.pool.aclose()
        self._open = None

    def _merge_stage(self, adapter: str) -> str:
        """``i<k>.merge.<name>`` for the adapter trained in stage ``i<k>.train.<name>``."""
        trained = (n for n, e in self.stages.record.items() if ".train." in n and isinstance(e["result"], dict))
        return next(n for n in trained if self.stages.result(n).get("adapter") == adapter).replace(".train.", ".merge.")

    def _base_stages(self, track: Track) -> list[str]:
        """The base model's held-out stages on the track (``_base_episodes`` and ``_base_fixed``)."""
        return [f"{track.stage}.episodes", f"{track.stage}.fixed", *self._subskill_stages(track, BASE, 0)]

    def _subskill_stages(self, track: Track, method: str, i: int) -> list[str]:
        return [self.answers(track, method, i, "subskills")[0]] if self.config.subskills.tests else []

    async def transfer(self, scenario: str) -> None:
        """The last iteration's adapters in another scenario, against the base model there."""
        track = self.track(scenario)
        await self._serving({None: self.template.llm.model}, self._base_stages(track))
        await self._base_episodes(track)
        await self._base_fixed(track)
        last = self.config.iterations
        await self._evaluate(track, {m: self.adapter_of(m, last).adapter for m in self.methods}, last)

    # ------------------------------------------------------------------ stages

    async def _play(self, jobs: list) -> dict[str, Any]:
        await evaluate.play(self.pool, jobs, self.progress)
        return {"episodes": len(jobs)}

    async def _base_episodes(self, track: Track) -> Any:
        jobs = evaluate.jobs_for(track.template, self.config.eval_seeds, None, self.episodes_of(track, BASE, 0))
        return await self.stages.run(f"{track.stage}.episodes", lambda: self._play(jobs))

    async def _base_fixed(self, track: Track) -> Any:
        """The base model's answers to the track's fixed prompts and its held-out subskill items."""
        found = from_runs([self.episodes_of(track, BASE, 0)])
        decisions = fixed.distinct(found)
        return await asyncio.gather(
            self._fixed(track, BASE, None, 0, decisions, {"copies_left_out": len(found) - len(decisions)}),
            self._subskills(track, BASE, None, 0),
        )

    async def _subskills(self, track: Track, method: str, adapter: str | None, i: int) -> Any:
        """The stage asking ``adapter`` (None: the base model) the held-out subskill items, greedily."""
        spec = self.config.subskills
        if not spec.tests:
            return None
        stage, target = self.answers(track, method, i, "subskills")

        async def ask() -> dict[str, Any]:
            asked = track.template.llm.model_copy(update={"adapter": adapter, "temperature": 0.0, "max_tokens": self.budget})
            records = await subskills.run(
                asked, [track.template.scenario], spec.items, spec.seed, tests=spec.tests, llm=self.pool.get(asked)
            )
            write_jsonl(target, records)
            return {"accuracy": subskills.accuracy_table(records).to_dict("records")}

        return await self.stages.run(stage, ask)

    async def _heldout(self) -> dict[str, Any]:
        """Held-out training rows: the base model's fixed-input replies and the base
        reflector's corrections of the failed ones, made into sets as the training sets are."""
        folder = self.out / "fixed"
        decisions, replies = load_decisions(folder), read_jsonl(folder / "base.jsonl")
        corrections = await reflect(
            self.reflector_llm(), decisions, replies, self.config.reflection, None, self.texts, self.reader, self.progress
        )
        write_jsonl(folder / "heldout_reflections.jsonl", corrections)
        sets = datasets.heldout_sets(decisions, replies, corrections, self.texts)
        return {
            "reflections": len(corrections), "pass_rate": pass_rate(corrections),
            **{k: write_jsonl(folder / f"heldout_{k}.jsonl", v) for k, v in sets.items()},
        }

    async def _fixed(
        self, track: Track, method: str, adapter: str | None, i: int,
        decisions: list[Decision] | None = None, extra: dict[str, Any] | None = None,
    ) -> Any:
        """The stage answering the track's fixed prompts; the base model's (``decisions``
        given) also writes them, as every other method then reads them."""
        stage, target = self.answers(track, method, i, "fixed")
        folder = track.root / "fixed"

        async def answer() -> dict[str, Any]:
            if decisions is not None:
                write_jsonl(folder / "decisions.jsonl", (d.to_json() for d in decisions))
            asked = list(load_decisions(folder).values())
            rows = await fixed.answer(
                self.agent_llm(), asked, self.config.sampling, adapter, track.texts, self.reader, self.budget, self.progress
            )
            write_jsonl(target, rows)
            base = None if method == BASE else read_jsonl(self.answers(track, BASE, i, "fixed")[1])
            return {**fixed.summarize(rows, base, fixed.prompt_keys(asked)), **(extra or {})}

        return await self.stages.run(stage, answer)

    async def _sample(self, episodes: Path, folder: Path, policy: Policy) -> dict[str, Any]:
        decisions = from_runs([episodes])
        samples = await draw_samples(
            self.agent_llm(), decisions, self.config.sampling, policy.adapter, self.texts, self.reader, self.budget,
            self.progress,
        )
        write_jsonl(folder / "decisions.jsonl", (d.to_json() for d in decisions))
        write_jsonl(folder / "samples.jsonl", samples)
        return {"decisions": len(decisions), "samples": len(samples), "pass_rate": pass_rate(samples), "kinds": kinds(samples)}

    async def _reflect(self, samples_dir: Path, target: Path, i: int) -> dict[str, Any]:
        decisions = load_decisions(samples_dir)
        reflector = self._reflector(i)
        rows = await reflect(
            self.reflector_llm(), decisions, read_jsonl(samples_dir / "samples.jsonl"), self.config.reflection,
            reflector.adapter, self.texts, self.reader, self.progress,
        )
        write_jsonl(target, rows)
        return {
            "reflector": reflector.name, "reflections": len(rows), "pass_rate": pass_rate(rows),
            "kinds": kinds(rows), "trimmed": sum(bool(r["trimmed"]) for r in rows),
        }

    def _merged(self, model: str, adapter: str) -> dict[str, Any]:
        """``adapter`` merged into ``model`` by the pool's ``merge``, measured against LoRA on
        its first held-out rows; refused in one line when not ``merged.faithful``."""
        heldout = self.out / "fixed" / f"heldout_{HELDOUT[self._merge_stage(adapter).rsplit('.', 1)[1]]}.jsonl"
        rows = read_jsonl(heldout)[:MERGE_PROBES] if heldout.is_file() else []
        probes = [row["prompt"] + row.get("completion", row.get("chosen", [])) for row in rows]
        kept = merged.report(self.pool.merge(model, adapter, probes))
        if not merged.faithful(kept):
            raise ConfigError(
                f"{adapter}: merged into bf16 weights, its logits are {kept['logit_error']:.0%} of the adapter's effect away "
                f"from the exact ones, LoRA's in bf16 {kept['lora_logit_error']:.0%} (more than {merged.MAX_EXCESS}x); "
                "run again with --set merge_adapters=false to serve it as LoRA"
            )
        return kept

    def _reflector(self, i: int) -> Policy:
        """Who reflects in iteration i: the reflector of iteration i - 1 (``use_trained``), else the base model."""
        return self.adapter_of("reflector", i - 1) if self.config.reflection.use_trained else Policy(BASE, None)

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

    async def _train(
        self, model: str, dataset: Path, adapter: Path, objective: str, init: str | None, heldout: Path
    ) -> dict[str, Any]:
        stop = threading.Event()
        spec = self.config.training
        try:
            return await asyncio.to_thread(
                self._with_threads, train_lora, model, dataset, adapter, spec, self.progress, objective, init, heldout, stop
            )
        except asyncio.CancelledError:  # Ctrl-C: a thread cannot be cancelled, so it is asked to stop at its step's end
            stop.set()
            print(f"stopping: the training of {adapter.name} saves the step under way, then this run ends", file=sys.stderr)
            raise

    def _with_threads(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` at the configured torch threads: inference lowered them to 1 (the
        engine's workers had the cores); given back after."""
        import torch

        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            return fn(*args)
        finally:
            torch.set_num_threads(before)

    def eval_roots(self, i: int) -> dict[str, tuple[Path, str | None]]:
        """Where each method of iteration i is evaluated, and with which adapter (untrained ones left out)."""
        roots = {BASE: (self.episodes_of(self.home, BASE, i), None)} if i == 1 else {}
        for method in self.methods:
            adapter = self.trained(i, method)
            if adapter:
                roots[method] = (self.episodes_of(self.home, method, i), adapter)
        return roots

    def _check(self, i: int) -> dict[str, Any]:
        return {method: {"logged_adapters": evaluate.logged_adapters(root)} for method, (root, _) in self.eval_roots(i).items()}


def load_decisions(folder: Path) -> dict[str, Decision]:
    return {row["id"]: Decision.from_json(row) for row in read_jsonl(folder / "decisions.jsonl")}


def opened(config: ReRestConfig) -> Experiment:
    """The run in ``config.out`` as it stands, only to be read (no engine; no stage can run)."""
    if not (Path(config.out) / STAGES_FILE).is_file():
        raise ConfigError(f"{config.out} has no finished Re-ReST stage to report; run the experiment first")
    stages = Stages(config.out, config.model_dump(mode="json"), normalize=identity, read_only=True)
    return Experiment(config, None, stages, progress=False)


def report(config: ReRestConfig) -> Path:
    """Write the summary of the stages finished so far, of a running or stopped run; runs nothing."""
    return summary.write(opened(config))


async def run_experiment(config: ReRestConfig, restart: bool = False, progress: bool = True, pool: Any = None) -> Path:
    """Run (or resume) every iteration; returns the summary table's path."""
    import torch

    threads = config.threads or torch.get_num_threads()  # None: torch's default, which the trainings get back
    torch.set_num_threads(threads)
    how = {"merge_adapters": config.merge_adapters}  # an execution key that changes what an adapter's stages answer
    stages = Stages(config.out, config.model_dump(mode="json"), restart=restart, normalize=identity, how=how)
    template = config.run_config()
    own = pool is None
    if own and config.merge_adapters:  # every adapter merged: no engine needs LoRA
        pool = LLMPool(template.llm, merge=merged.merged_copy)
    elif own:  # vLLM engines start with LoRA enabled: the adapters trained later are asked of the engine sampled with
        pool = LLMPool(template.llm, factory=partial(make_llm, max_lora_rank=config.training.r))
    if config.merge_adapters and resolve_backend(template.llm.backend) == "openai":
        raise ConfigError("merge_adapters needs a local backend (vllm or transformers); an OpenAI server loads its own")
    if config.merge_adapters != (pool.merge is not None):  # merging without closing engines between adapters, or the reverse
        raise ConfigError("merge_adapters and the pool disagree: merge_adapters: true needs LLMPool(merge=...), and only it")
    try:
        experiment = Experiment(config, pool, stages, progress, threads)
        for i in range(1, config.iterations + 1):
            await experiment.iteration(i)
            path = summary.write(experiment)
        for scenario in config.transfer:
            await experiment.transfer(scenario)
            path = summary.write(experiment)
    finally:
        if own:
            await pool.aclose()
    return path
