"""The results of a Re-ReST experiment: ``rerest_summary.csv``/``.md``, ``rerest_losses.csv``,
``rerest_episodes.csv`` and, with ``transfer``, ``rerest_transfer.csv``.

``rerest_summary.csv`` has exactly ``COLUMNS`` (``govsim.rerest.results``: the dashboard reads them): one row for
the base model (iteration 0) and one per method (self_training, rerest, and dpo when
enabled) and iteration. Two evaluations per row:

- fixed inputs (``fixed``): ``sample_pass_rate`` is the share of the method's k sampled
  replies to the same held-out prompts that pass the check, with ``sample_n``, its Wilson
  95 % interval (``_low``/``_high``) and half its width (``_ci``, for error bars); the same
  for the one greedy reply per prompt (``greedy_*``);
- episodes on the held-out seeds: the paper's metrics from ``govsim.report`` (mean and
  95 % interval; survival_rate in %).

``reflection_pass_rate`` (Re-ReST rows) is the share of that iteration's corrections that
passed; ``train_loss`` and ``heldout_loss`` are the adapter's last epoch's mean training
loss and its last held-out loss. ``rerest_losses.csv`` has every epoch of every adapter;
``rerest_episodes.csv`` every held-out episode the intervals come from (scenario,
iteration, method, seed, status, metrics and call counters), to pair methods seed by seed.
The markdown adds the amounts asked, the check outcomes, how each iteration's data and
adapters came about, what was dropped and why, and the stage times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from govsim.report import to_markdown
from govsim.rerest import fixed
from govsim.rerest.decisions import Decision
from govsim.rerest.evaluate import concat, metrics_table, runs_of
from govsim.rerest.results import (
    BASE,
    COLUMNS,
    EPISODE_COLUMNS,
    EPISODE_ROW_COLUMNS,
    EPISODES_FILE,
    LOSS_COLUMNS,
    LOSSES_FILE,
    METHOD_ORDER,
    RATES,
    SUMMARY_FILE,
    SUMMARY_MARKDOWN,
    TRANSFER_COLUMNS,
    TRANSFER_FILE,
)
from govsim.rerest.stages import read_jsonl


def _get(stages: Any, name: str) -> Any:
    return stages.result(name) if stages.done(name) else None


def fixed_result(experiment: Any, track: Any, method: str, i: int) -> dict[str, Any] | None:
    """A done fixed-input stage's result, scored again from its reply file with each prompt
    counted once (a run made before ``fixed.distinct`` asked copies of one prompt)."""
    stage, replies = experiment.answers(track, method, i, "fixed")
    result = _get(experiment.stages, stage)
    if result is None or not replies.is_file():
        return result
    folder = track.root / "fixed"
    keys = fixed.prompt_keys(Decision.from_json(row) for row in read_jsonl(folder / "decisions.jsonl"))
    base = None if method == BASE else read_jsonl(experiment.answers(track, BASE, i, "fixed")[1])
    return {**result, **fixed.summarize(read_jsonl(replies), base, keys)}


def rate_cells(result: dict[str, Any] | None) -> dict[str, Any]:
    """The fixed-input columns of one method's stage record."""
    cells: dict[str, Any] = {}
    for kind in RATES:
        r = (result or {}).get("sampled" if kind == "sample" else kind)
        if not r or not r["n"]:
            continue
        cells.update({
            f"{kind}_pass_rate": r["rate"], f"{kind}_pass_rate_low": r["low"], f"{kind}_pass_rate_high": r["high"],
            f"{kind}_pass_rate_ci": (r["high"] - r["low"]) / 2, f"{kind}_n": r["n"],
        })
    return cells


def _episode_cells(metrics: pd.DataFrame, method: str) -> dict[str, Any]:
    if method not in metrics.index:
        return {}
    episodes = {c: metrics.at[method, c] for c in EPISODE_COLUMNS if c in metrics.columns}
    return {"runs": int(metrics.at[method, "runs"]), **episodes}


def rows(experiment: Any) -> list[tuple[int, str]]:
    """(iteration, method) of every evaluated row, base first; in a run still going, the
    rows whose fixed-input stage is done (their episodes may not be)."""
    stages, home, out = experiment.stages, experiment.home, []
    for i in range(1, experiment.config.iterations + 1):
        methods = [BASE] if i == 1 else []
        methods += [m for m in METHOD_ORDER[1:] if m in experiment.eval_roots(i)]
        out += [(0 if m == BASE else i, m) for m in methods if stages.done(experiment.answers(home, m, i, "fixed")[0])]
    return out


def table(experiment: Any) -> pd.DataFrame:
    stages, out = experiment.stages, []
    metrics = {
        i: metrics_table({m: root for m, (root, _) in experiment.eval_roots(i).items()}).set_index("method")
        for i in {max(i, 1) for i, _ in rows(experiment)}
    }
    for i, method in rows(experiment):
        row: dict[str, Any] = {"iteration": i, "method": method, "runs": 0}
        row.update(_episode_cells(metrics[max(i, 1)], method))
        row.update(rate_cells(fixed_result(experiment, experiment.home, method, max(i, 1))))
        if method == "rerest":
            row["reflection_pass_rate"] = stages.result(f"i{i}.reflect")["pass_rate"]
        trained = _get(stages, f"i{i}.train.{method}") if i else None
        if trained:
            row["train_loss"] = trained["epoch_losses"][-1]["loss"] if trained.get("epoch_losses") else None
            row["heldout_loss"] = trained["heldout_losses"][-1]["loss"] if trained.get("heldout_losses") else None
        out.append(row)
    return pd.DataFrame(out, columns=COLUMNS)


def losses(experiment: Any) -> pd.DataFrame:
    """Every epoch of every adapter: the mean training loss and the held-out loss (epoch 0: before training)."""
    out = []
    for name, record in sorted(experiment.stages.record.items()):
        parts = name.split(".")
        if len(parts) != 3 or parts[1] != "train" or not record["result"].get("adapter"):
            continue
        result, i = record["result"], int(parts[0][1:])
        epochs: dict[float, dict[str, Any]] = {}
        for e in result.get("epoch_losses", []):
            epochs.setdefault(float(e["epoch"]), {})["train_loss"] = e["loss"]
        for e in result.get("heldout_losses", []):
            epochs.setdefault(float(e["epoch"]), {})["heldout_loss"] = e["loss"]
        out += [{"iteration": i, "adapter": parts[2], "epoch": e, **v} for e, v in sorted(epochs.items())]
    return pd.DataFrame(out, columns=LOSS_COLUMNS)


def transfer_table(experiment: Any) -> pd.DataFrame:
    stages, out = experiment.stages, []
    for scenario in experiment.config.transfer:
        track = experiment.track(scenario)
        last = experiment.config.iterations
        roots = {BASE: experiment.episodes_of(track, BASE, last)}
        roots |= {
            m: experiment.episodes_of(track, m, last) for m in experiment.methods if stages.done(f"{track.stage}.eval.{m}")
        }
        if not stages.done(f"{track.stage}.episodes"):
            continue
        metrics = metrics_table(roots).set_index("method")
        for method in roots:
            out.append({"scenario": scenario, "method": method, "runs": 0, **_episode_cells(metrics, method),
                        **rate_cells(fixed_result(experiment, track, method, last))})
    return pd.DataFrame(out, columns=TRANSFER_COLUMNS)


def episodes(experiment: Any) -> pd.DataFrame:
    """Every held-out episode found so far: base (iteration 0) and each method's, at home and in transfer."""
    config, frames = experiment.config, []
    for i in range(1, config.iterations + 1):
        for method, (root, _) in experiment.eval_roots(i).items():
            frames.append((experiment.template.scenario, 0 if method == BASE else i, {method: root}))
    for scenario in config.transfer:
        track = experiment.track(scenario)
        frames += [
            (scenario, 0 if m == BASE else config.iterations, {m: experiment.episodes_of(track, m, config.iterations)})
            for m in (BASE, *experiment.methods)
        ]
    rows = [runs_of(roots).assign(scenario=scenario, iteration=i) for scenario, i, roots in frames]
    return concat([r for r in rows if len(r)]).reindex(columns=EPISODE_ROW_COLUMNS)


def write(experiment: Any):
    out = experiment.out
    frame = table(experiment)
    frame.to_csv(out / SUMMARY_FILE, index=False)
    losses(experiment).to_csv(out / LOSSES_FILE, index=False)
    episodes(experiment).to_csv(out / EPISODES_FILE, index=False)
    transfer = transfer_table(experiment) if experiment.config.transfer else None
    if transfer is not None:
        transfer.to_csv(out / TRANSFER_FILE, index=False)
    (out / SUMMARY_MARKDOWN).write_text(markdown(experiment, frame, transfer))
    return out / SUMMARY_MARKDOWN


# ---------------------------------------------------------------------------- markdown


def _pct(value: Any) -> str:
    return "-" if _missing(value) else f"{value:.1%}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _rate(r: dict[str, Any] | None) -> str:
    if not r or not r["n"]:
        return "-"
    return f"{r['rate']:.1%} ({r['passed']}/{r['n']}) [{r['low']:.1%}, {r['high']:.1%}]"


def _fixed_line(label: Iterable[str], result: dict[str, Any] | None) -> str:
    if result is None:
        return "| " + " | ".join([*label, "-", "-", "-", "-", "-"]) + " |"
    vs = result.get("vs_base")
    versus = "-" if not vs else (
        f"+{vs['gained']} / -{vs['lost']}" + ("" if vs["p"] is None else f", p = {vs['p']:.2g}")
        + f"; {vs['differ']}/{vs['compared']} differ"
    )
    q = result["amounts"]["quartiles"]
    quartiles = "-" if q is None else " / ".join(f"{v:g}" for v in q)
    outcomes = ", ".join(f"{k} {v}" for k, v in result["kinds"].items())
    return "| " + " | ".join([*label, _rate(result["sampled"]), _rate(result["greedy"]), versus, quartiles, outcomes]) + " |"


def _fixed_table(first: str, lines: list[tuple[list[str], Any]]) -> list[str]:
    return [
        f"| {first} | method | sampled replies passing | greedy replies passing "
        "| greedy vs base: passes gained / lost | amount quartiles | sampled outcomes |",
        "|---|---|---|---|---|---|---|",
        *(_fixed_line(label, result) for label, result in lines),
    ]


def _prompts_line(experiment: Any, track: Any, base: dict[str, Any]) -> str:
    """How many of a track's fixed prompts are distinct, and how many of them the agent was trained on."""
    def keys(path: Any) -> list[str]:
        return list(fixed.prompt_keys(Decision.from_json(row) for row in read_jsonl(path)).values())

    held = keys(track.root / "fixed" / "decisions.jsonl")
    trained = {k for path in sorted(experiment.out.glob("iter*/samples/*/decisions.jsonl")) for k in keys(path)}
    copies = base.get("copies_left_out", len(held) - len(set(held)))
    seen = len(set(held) & trained)
    line = f"Each of the {len(set(held))} prompts counts once ({copies} copies from other seeds' episodes left out)"
    if not seen:
        return line + "; none of them is a training prompt."
    return (
        line + f". **{seen} of them are also training prompts** (word for word, in the samples the adapters were "
        "trained from): on those this evaluation, and the held-out losses' rows built from them, measure the "
        "training prompts, not held-out ones."
    )


def _titled(title: str, lines: list[str]) -> list[str]:
    return [title, "", *lines, ""] if lines else []


def _subskill_lines(experiment: Any, first: str, entries: list[tuple[str, Any, str, int]]) -> list[str]:
    """The accuracy of each (label, track, method, iteration) on the subskill items, a row per test."""
    spec, found = experiment.config.subskills, []
    for label, track, method, i in entries:
        result = _get(experiment.stages, experiment.answers(track, method, i, "subskills")[0]) or {}
        found += [(label, method, r) for r in result.get("accuracy", [])]
    if not found:
        return []
    lines = [
        f"The paper's subskill tests {', '.join(spec.tests)} ({spec.items} items each, seed {spec.seed}): stocks 10-100, "
        "a persona and its memories, worded as no training prompt is; asked greedily within the agent's budget. "
        "Accuracy (passed/n) [Wilson 95 % interval]; unparsed replies count as failed.",
        "",
        f"| {first} | method | test | accuracy | unparsed |",
        "|---|---|---|---|---|",
    ]
    for label, method, r in found:
        lines.append(
            f"| {label} | {method} | {r['test']} | {r['accuracy']:.1%} ({r['passed']}/{r['n']}) "
            f"[{r['ci_low']:.1%}, {r['ci_high']:.1%}] | {r['parse_failures']} |"
        )
    return lines


def _episode_table(frame: pd.DataFrame, first: str) -> str:
    shown = frame[frame["runs"] > 0][[first, "method", "runs", *EPISODE_COLUMNS]].copy()
    return to_markdown(shown.astype({first: str})) if not shown.empty else "(no episodes finished yet)"


def markdown(experiment: Any, frame: pd.DataFrame, transfer: pd.DataFrame | None = None) -> str:
    config, stages = experiment.config, experiment.stages
    run = experiment.template
    home, last = experiment.home, config.iterations
    base = fixed_result(experiment, home, BASE, 1)
    lines = [
        "# Re-ReST results",
        "",
        f"Scenario {run.scenario}, experiment {run.experiment}, profile {run.profile}, {run.n_agents} {run.agent} agents, "
        f"{run.months} months, model {run.llm.model} ({run.llm.backend} backend), agent reply budget "
        f"{experiment.budget} tokens. Training seeds {config.train_seeds}, held-out seeds {config.eval_seeds}; "
        f"k = {config.sampling.k} samples per decision at temperature {config.sampling.temperature}; "
        f"{config.iterations} iteration(s), {config.training.epochs:g} epoch(s) each.",
        "",
        f"## Fixed inputs: the same {base['prompts'] if base else '?'} prompts of the held-out seeds for every method",
        "",
        "The harvest prompts of the base model's episodes on the held-out seeds; per prompt k replies at the sampling "
        "temperature and one greedy reply, each read as the agent's first reply (answer marker within the budget) and "
        "checked (0 < amount <= f(h), within an agreed limit). Rates with (passed/n) [Wilson 95 % interval]; "
        "greedy vs base: prompts the method passes where the base failed / the reverse, exact McNemar p.",
        *([_prompts_line(experiment, home, base)] if base else []),
        "",
        *_fixed_table("iteration", [([str(i), m], fixed_result(experiment, home, m, max(i, 1))) for i, m in rows(experiment)]),
        "",
        *_titled("## Held-out questions: subskill items", _subskill_lines(experiment, "iteration", [
            (str(i), home, m, max(i, 1)) for i, m in rows(experiment)
        ])),
        "## Episodes on the held-out seeds",
        "",
        _episode_table(frame, "iteration"),
        "",
        "mean [95 % interval] over held-out runs; survival_rate in % (Wilson), the others t-intervals.",
    ]
    if transfer is not None and not transfer.empty:
        lines += ["", "## Transfer: the last iteration's adapters in other scenarios", ""]
        shown = list(zip(transfer["scenario"], transfer["method"]))
        for scenario in config.transfer:
            track = experiment.track(scenario)
            if held := fixed_result(experiment, track, BASE, last):
                lines += [f"{scenario}: " + _prompts_line(experiment, track, held), ""]
        lines += _fixed_table("scenario", [([s, m], fixed_result(experiment, experiment.track(s), m, last)) for s, m in shown])
        lines += ["", *_titled("### Subskill items", _subskill_lines(experiment, "scenario", [
            (s, experiment.track(s), m, last) for s, m in shown
        ]))]
        lines += ["", "### Episodes on the held-out seeds", "", _episode_table(transfer, "scenario")]
    for i in range(1, config.iterations + 1):
        if stages.done(f"i{i}.datasets"):
            lines += ["", *_iteration_lines(stages, i, experiment.methods, i == last and not config.reflection.train_last)]
    lines += ["", *_time_lines(stages, config.iterations), ""]
    return "\n".join(lines)


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in kinds.items() if k != "passed") or "none"


def _losses(values: list[dict[str, Any]]) -> str:
    return " -> ".join(f"{v['loss']}" for v in values) if values else "-"


def _iteration_lines(stages: Any, i: int, methods: tuple[str, ...], reflector_left_out: bool) -> list[str]:
    lines = [f"## Iteration {i}", ""]
    for name, record in sorted(stages.record.items()):
        if name.startswith(f"i{i}.sample."):
            r = record["result"]
            lines.append(
                f"- samples from {name.rsplit('.', 1)[1]}: {r['decisions']} decisions, {r['samples']} samples, "
                f"{_pct(r['pass_rate'])} pass; failed: {_kinds(r['kinds'])}"
            )
    reflect = _get(stages, f"i{i}.reflect")
    if reflect:
        lines.append(
            f"- corrections ({reflect['reflector']} reflector): {reflect['reflections']}, {_pct(reflect['pass_rate'])} pass "
            f"({reflect['trimmed']} cut at reflection.max_tokens and kept to their full sentences); "
            f"dropped: {_kinds(reflect['kinds'])}"
        )
    sizes = _get(stages, f"i{i}.datasets")
    lines.append("- datasets: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    held = _get(stages, "base.heldout") if i == 1 else None
    if held:
        lines.append(
            f"- held-out rows (for the losses): {held['reflections']} corrections of failed held-out replies, "
            f"{_pct(held['pass_rate'])} pass; agent {held['agent']}, reflector {held['reflector']}, dpo {held['dpo']} rows"
        )
    for name in ("reflector", *methods):
        t = _get(stages, f"i{i}.train.{name}")
        if t is None:
            if name == "reflector" and reflector_left_out:
                lines.append("- adapter reflector: not trained in the last iteration (it would first serve in the next; "
                             "reflection.train_last trains it)")
            continue
        if not t["adapter"]:
            why = f"all {t['too_long']} examples longer than max_seq_len" if t["too_long"] else "its data set is empty"
            lines.append(f"- adapter {name}: not trained ({why})")
            continue
        start = "from " + ("the previous adapter" if t.get("init") else "a fresh LoRA")
        lines.append(
            f"- adapter {name} ({start}): {t['examples']} examples ({t['too_long']} too long), {t['steps']} steps, "
            f"{t['epochs']} epochs; training loss per epoch {_losses(t['epoch_losses'])}; held-out loss "
            f"({_held_rows(t)}, before training first) {_losses(t['heldout_losses'])}; {t['train_s']} s"
            + _merged(_get(stages, f"i{i}.merge.{name}"))
        )
    for method, check in sorted((_get(stages, f"i{i}.check") or {}).items()):
        lines.append(f"- {method} episodes: llm_call adapters {check['logged_adapters']}")
    return lines


def _merged(merge: dict[str, Any] | None) -> str:
    """How the adapter's copy merged into the weights (``merge_adapters``) stands for it;
    which stages served it merged, each stage's ``merge_adapters`` in stages.json says."""
    if merge is None:
        return ""
    if merge.get("logit_error") is None:
        return "; merged into the weights for serving (not measured against LoRA)"
    return (
        f"; merged into the weights for serving: logits {_pct(merge['logit_error'])} of the adapter's effect away from "
        f"the exact ones (LoRA in bf16 {_pct(merge['lora_logit_error'])}; {merge['probe_tokens']} held-out tokens)"
    )


def _held_rows(trained: dict[str, Any]) -> str:
    """'64 of 281 rows' when the held-out loss ran on a sample, else '12 rows'."""
    shown, fitting = trained["heldout_examples"], trained.get("heldout_fitting", trained["heldout_examples"])
    return f"{shown} of {fitting} rows" if fitting > shown else f"{shown} rows"


def _span(records: list[dict[str, Any]]) -> float:
    """Wall-clock seconds in which some stage ran: the union of their intervals (stages may
    overlap; the gaps of a run resumed in another session do not count)."""
    total, end = 0.0, -math.inf
    for start, stop in sorted((r["at"] - r["wall_s"], r["at"]) for r in records):
        if stop > end:
            total, end = total + stop - max(start, end), stop
    return total


def _time_lines(stages: Any, iterations: int) -> list[str]:
    lines = ["## Stage times (s)", ""]
    for i in range(1, iterations + 1):
        names = [n for n in stages.record if n.startswith(f"i{i}.") or (i == 1 and n.startswith("base."))]
        if not names:
            continue
        ordered = sorted(names, key=lambda n: stages.record[n]["at"] - stages.record[n]["wall_s"])
        records = [stages.record[n] for n in ordered]
        lines.append(
            f"- iteration {i}: {_span(records):.0f} s wall clock; "
            + ", ".join(f"{n} {stages.record[n]['wall_s']}" for n in ordered)
        )
    transfer = [n for n in stages.record if n.startswith("transfer.")]
    if transfer:
        lines.append(f"- transfer: {_span([stages.record[n] for n in transfer]):.0f} s wall clock")
    return lines
