"""The names of a Re-ReST experiment's results: its methods, its files and their columns.

``govsim.rerest.summary`` writes the files, the dashboard (``web/``) reads them; both take
the names from here. This module imports nothing, so the dashboard reads it cheaply.
"""

from __future__ import annotations

BASE = "base"  # the base model, iteration 0
METHODS = ("self_training", "rerest")  # the agent adapters every iteration trains
DPO = "dpo"  # the preference variant's adapter, with ``dpo: true``
METHOD_ORDER = (BASE, *METHODS, DPO)  # the rows' order in the tables

SUMMARY_FILE = "rerest_summary.csv"
SUMMARY_MARKDOWN = "rerest_summary.md"
LOSSES_FILE = "rerest_losses.csv"
TRANSFER_FILE = "rerest_transfer.csv"  # with ``transfer``
EPISODES_FILE = "rerest_episodes.csv"  # one row per held-out episode
FILES = (SUMMARY_FILE, SUMMARY_MARKDOWN, LOSSES_FILE, TRANSFER_FILE, EPISODES_FILE)

# the episodes' metrics (govsim.report's, the paper's table's), each with its 95 % interval: ``_ci`` half its width
REQUIRED_METRICS = ("survival_rate", "survival_time", "gain", "efficiency")  # in every summary ever written
TABLE_METRICS = (*REQUIRED_METRICS, "equality", "over_usage")
EPISODE_COLUMNS = [c for m in TABLE_METRICS for c in (m, f"{m}_ci", f"{m}_low", f"{m}_high")]
# the fixed-input pass rates: of the k sampled replies and of the greedy one, each with its Wilson interval
RATES = ("sample", "greedy")
RATE_COLUMNS = [c for r in RATES for c in (f"{r}_pass_rate", f"{r}_pass_rate_ci", f"{r}_pass_rate_low", f"{r}_pass_rate_high",
                                           f"{r}_n")]
COLUMNS = ["iteration", "method", "runs", *EPISODE_COLUMNS, *RATE_COLUMNS, "reflection_pass_rate", "train_loss", "heldout_loss"]
TRANSFER_COLUMNS = ["scenario", "method", "runs", *EPISODE_COLUMNS, *RATE_COLUMNS]
LOSS_COLUMNS = ["iteration", "adapter", "epoch", "train_loss", "heldout_loss"]
EPISODE_ROW_COLUMNS = [  # rerest_episodes.csv: the rows the episode intervals are computed from
    "scenario", "iteration", "method", "seed", "status", "reason", "survived", "survival_time", "gain", "efficiency",
    "equality", "over_usage", "llm_calls", "parse_failures", "fallbacks", "invalid_actions",
]

# What a reader plots over the iterations, and the summary's columns it needs for that
# (a summary written before the greedy, loss, equality and over-usage columns existed still reads).
CHARTED = (*TABLE_METRICS, "sample_pass_rate", "reflection_pass_rate")
READ_COLUMNS = ("iteration", "method", *(c for m in REQUIRED_METRICS for c in (m, f"{m}_ci")), "sample_pass_rate",
                "reflection_pass_rate")
