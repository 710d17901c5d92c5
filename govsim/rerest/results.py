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
FILES = (SUMMARY_FILE, SUMMARY_MARKDOWN, LOSSES_FILE, TRANSFER_FILE)

# the episodes' metrics (govsim.report's), each with its 95 % interval: ``_ci`` half its width
TABLE_METRICS = ("survival_rate", "survival_time", "gain", "efficiency")
EPISODE_COLUMNS = [c for m in TABLE_METRICS for c in (m, f"{m}_ci", f"{m}_low", f"{m}_high")]
# the fixed-input pass rates: of the k sampled replies and of the greedy one, each with its Wilson interval
RATES = ("sample", "greedy")
RATE_COLUMNS = [c for r in RATES for c in (f"{r}_pass_rate", f"{r}_pass_rate_ci", f"{r}_pass_rate_low", f"{r}_pass_rate_high",
                                           f"{r}_n")]
COLUMNS = ["iteration", "method", "runs", *EPISODE_COLUMNS, *RATE_COLUMNS, "reflection_pass_rate", "train_loss", "heldout_loss"]
TRANSFER_COLUMNS = ["scenario", "method", "runs", *EPISODE_COLUMNS, *RATE_COLUMNS]
LOSS_COLUMNS = ["iteration", "adapter", "epoch", "train_loss", "heldout_loss"]

# What a reader plots over the iterations, and the summary's columns it needs for that
# (a summary written before the greedy and loss columns existed still reads).
CHARTED = (*TABLE_METRICS, "sample_pass_rate", "reflection_pass_rate")
READ_COLUMNS = ("iteration", "method", *(c for m in TABLE_METRICS for c in (m, f"{m}_ci")), "sample_pass_rate",
                "reflection_pass_rate")
