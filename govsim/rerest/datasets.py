"""Step 4: the training sets, as JSONL rows the Hugging Face stack reads.

Rows are TRL "conversational prompt-completion" examples: ``prompt`` is a list of chat
messages, ``completion`` one assistant message; SFTTrainer then computes the loss on the
completion only. ``decision`` and ``source`` are kept for tracing and dropped at training.

- D_M: the agent's passing samples (x -> y).
- D_R: the reflector's passing corrections (x -> y').
- reflector: (x, failed y, feedback -> good y): its own passing corrections, and every
  failed agent sample paired with a passing sample of the same x.
- dpo: preference rows (x, chosen, rejected) for the DPO variant: each passing correction
  over the sample it corrected, and each failed sample under a passing sample of its x.

The held-out sets (``heldout_sets``) are rows of the same kinds built the same way from the
held-out decisions: the base model's replies to the fixed-input prompts and the base
reflector's corrections of the failed ones. The agent's set (passing replies and passing
corrections) is the same for every method, so their held-out losses compare.

Identical (prompt, completion) rows are kept once: duplicates would only weight the
easiest decisions more.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import cycle
from typing import Any

from govsim.rerest.decisions import Decision
from govsim.rerest.texts import Texts

Row = dict[str, Any]


def example(prompt: Sequence[dict[str, str]], completion: str, decision: str, source: str) -> Row:
    return {
        "prompt": [dict(m) for m in prompt],
        "completion": [{"role": "assistant", "content": completion}],
        "decision": decision,
        "source": source,
    }


def agent_examples(decisions: dict[str, Decision], rows: Iterable[Row], source: str) -> list[Row]:
    """Passing samples or corrections as training examples for the agent."""
    return unique(example(decisions[r["decision"]].messages, r["text"], r["decision"], source) for r in rows if r["passed"])


def reflector_examples(
    decisions: dict[str, Decision], samples: Sequence[Row], reflections: Sequence[Row], texts: Texts
) -> list[Row]:
    def prompt(decision: str, failed: str, feedback: str) -> list[dict[str, str]]:
        return texts.reflection_messages(decisions[decision].messages, failed, feedback, decisions[decision].state.upper)

    out = [
        example(prompt(r["decision"], r["failed_text"], r["failed_feedback"]), r["text"], r["decision"], "correction")
        for r in reflections
        if r["passed"]
    ]
    out += [
        example(prompt(d, bad["text"], bad["feedback"]), good["text"], d, "sample_pair")
        for d, good, bad in _sample_pairs(samples)
    ]
    return unique(out)


def preference_pairs(decisions: dict[str, Decision], samples: Sequence[Row], reflections: Sequence[Row]) -> list[Row]:
    def pair(decision: str, chosen: str, rejected: str, source: str) -> Row:
        return {
            "prompt": [dict(m) for m in decisions[decision].messages],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "decision": decision,
            "source": source,
        }

    out = [pair(r["decision"], r["text"], r["failed_text"], "correction") for r in reflections if r["passed"]]
    out += [pair(d, good["text"], bad["text"], "sample_pair") for d, good, bad in _sample_pairs(samples)]
    return unique(out, key=lambda row: (row["decision"], row["chosen"][0]["content"], row["rejected"][0]["content"]))


def heldout_sets(
    decisions: dict[str, Decision], replies: Sequence[Row], corrections: Sequence[Row], texts: Texts
) -> dict[str, list[Row]]:
    """Held-out rows for the agent's, the reflector's and the DPO training (see the module doc)."""
    return {
        "agent": unique(agent_examples(decisions, replies, "sample") + agent_examples(decisions, corrections, "correction")),
        "reflector": reflector_examples(decisions, replies, corrections, texts),
        "dpo": preference_pairs(decisions, replies, corrections),
    }


def _sample_pairs(samples: Sequence[Row]) -> list[tuple[str, Row, Row]]:
    """(decision, passing sample, failed sample): every failed sample of an x that has a
    passing one, the passing ones taken in turn."""
    by_decision: dict[str, list[Row]] = {}
    for s in samples:
        by_decision.setdefault(s["decision"], []).append(s)
    pairs = []
    for decision_id, group in by_decision.items():
        good = [s for s in group if s["passed"]]
        if good:
            partners = cycle(good)
            pairs += [(decision_id, next(partners), bad) for bad in group if not bad["passed"]]
    return pairs


def _prompt_and_completion(row: Row) -> tuple[str, str]:
    return repr(row["prompt"]), row["completion"][0]["content"]


def unique(rows: Iterable[Row], key: Callable[[Row], Hashable] = _prompt_and_completion) -> list[Row]:
    """The rows in order, each ``key`` kept once."""
    seen, out = set(), []
    for row in rows:
        k = key(row)
        if k not in seen:
            seen.add(k)
            out.append(row)
    return out
