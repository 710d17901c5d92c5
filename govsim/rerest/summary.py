"""The results of a Re-ReST experiment: ``rerest_summary.csv`` and ``rerest_summary.md``.

The CSV has exactly ``COLUMNS`` (the dashboard reads them): one row for the base model
(iteration 0) and one per method (self_training, rerest, and dpo when enabled) and iteration. Means and 95 % CIs come from
``govsim.report``; survival_rate is in %. ``sample_pass_rate`` is the share of the
method's first harvest replies in its held-out episodes that pass the Re-ReST check;
``reflection_pass_rate`` (Re-ReST rows) the share of that iteration's corrections that
passed. The markdown adds how each iteration's data and adapters came about.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from govsim.report import to_markdown
from govsim.rerest.evaluate import TABLE_METRICS, metrics_table

COLUMNS = [
    "iteration", "method", "runs",
    *(c for m in TABLE_METRICS for c in (m, f"{m}_ci")),
    "sample_pass_rate", "reflection_pass_rate",
]
METHOD_ORDER = ("base", "self_training", "rerest", "dpo")


def table(experiment: Any) -> pd.DataFrame:
    stages, rows = experiment.stages, []
    for i in range(1, experiment.config.iterations + 1):
        if not stages.done(f"i{i}.check"):
            break
        roots = experiment.eval_roots(i)
        metrics = metrics_table({m: root for m, (root, _) in roots.items()}).set_index("method")
        checks = stages.result(f"i{i}.check")
        for method in (m for m in METHOD_ORDER if m in experiment.methods or (m == "base" and i == 1)):
            row: dict[str, Any] = {"iteration": 0 if method == "base" else i, "method": method, "runs": 0}
            if method in metrics.index:
                row.update({c: metrics.at[method, c] for c in COLUMNS[2:-2]})
                row["sample_pass_rate"] = checks[method]["reply_pass_rate"]
            if method == "rerest":
                row["reflection_pass_rate"] = stages.result(f"i{i}.reflect")["pass_rate"]
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def write(experiment: Any):
    frame = table(experiment)
    out = experiment.out
    frame.to_csv(out / "rerest_summary.csv", index=False)
    (out / "rerest_summary.md").write_text(markdown(experiment, frame))
    return out / "rerest_summary.md"


def markdown(experiment: Any, frame: pd.DataFrame) -> str:
    config, stages = experiment.config, experiment.stages
    run = experiment.template
    lines = [
        "# Re-ReST results",
        "",
        f"Scenario {run.scenario}, experiment {run.experiment}, {run.n_agents} {run.agent} agents, {run.months} months, "
        f"model {run.llm.model} ({run.llm.backend} backend). Training seeds {config.train_seeds}, held-out seeds "
        f"{config.eval_seeds}; k = {config.sampling.k} samples per decision at temperature {config.sampling.temperature}.",
        "",
        _shown(frame),
        "",
        "survival_rate in %, mean ± 95 % CI over held-out runs. sample_pass_rate: share of first harvest replies in the "
        "held-out runs that pass the check (parses, 0 < amount <= f(h), within an agreed limit); reflection_pass_rate: "
        "share of the reflector's corrections that passed.",
    ]
    for i in range(1, config.iterations + 1):
        if stages.done(f"i{i}.datasets"):
            lines += ["", *_iteration_lines(stages, i, experiment.methods)]
    lines += ["", f"Total stage time: {stages.wall_s():.0f} s.", ""]
    return "\n".join(lines)


def _shown(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for col in ("sample_pass_rate", "reflection_pass_rate"):
        shown[col] = [("-" if _missing(v) else f"{v:.1%}") for v in shown[col]]
    text = to_markdown(shown.fillna(math.nan)) if not shown.empty else "(no evaluation finished yet)"
    return text.replace("nan ± nan", "-")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _iteration_lines(stages: Any, i: int, methods: tuple[str, ...]) -> list[str]:
    get = lambda name: stages.result(name) if stages.done(name) else None  # noqa: E731
    lines = [f"## Iteration {i}", ""]
    for name, record in sorted(stages.record.items()):
        if name.startswith(f"i{i}.sample."):
            r = record["result"]
            rate = "-" if r["pass_rate"] is None else f"{r['pass_rate']:.1%}"
            lines.append(f"- samples from {name.rsplit('.', 1)[1]}: {r['decisions']} decisions, {r['samples']} samples, {rate} pass")
    reflect = get(f"i{i}.reflect")
    if reflect:
        rate = "-" if reflect["pass_rate"] is None else f"{reflect['pass_rate']:.1%}"
        lines.append(f"- reflections ({reflect['reflector']} reflector): {reflect['reflections']}, {rate} pass")
    sizes = get(f"i{i}.datasets")
    lines.append("- datasets: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    for name in ("reflector", *methods):
        t = get(f"i{i}.train.{name}")
        if t is None:
            continue
        if not t["adapter"]:
            lines.append(f"- adapter {name}: not trained (no example of at most max_seq_len tokens)")
            continue
        lines.append(
            f"- adapter {name}: {t['examples']} examples ({t['too_long']} too long), {t['steps']} steps, "
            f"loss {t['first_loss']} -> {t['last_loss']}, {t['train_s']} s"
        )
    checks = get(f"i{i}.check") or {}
    for method in (m for m in METHOD_ORDER if m in checks):
        check = checks[method]
        greedy = check.get("greedy")
        differ = f"; greedy replies differ from base on {greedy['differ']}/{greedy['compared']} inputs" if greedy else ""
        lines.append(f"- {method} evaluation: llm_call adapters {check['logged_adapters']}{differ}")
    ran = sorted((r["at"], n, r["wall_s"]) for n, r in stages.record.items() if n.startswith(f"i{i}."))
    times = {n: t for _, n, t in ran}
    lines.append("- stage times (s): " + ", ".join(f"{n.split('.', 1)[1]} {t}" for n, t in times.items()))
    return lines
