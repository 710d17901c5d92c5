"""Step 4: the training sets, as JSONL rows the Hugging Face stack reads.

Rows are TRL "conversational prompt-completion" examples: ``prompt`` is a list of chat
messages, ``completion`` one assistant message; SFTTrainer then computes the loss on the
completion only. ``decision`` and ``source`` are kept for tracing and dropped at training.

- D_M: the agent's passing samples (x -> y).
- D_R: the reflector's passing corrections (x -> y').
- reflector: (x, failed y, feedback -> good y): its own passing corrections, and every
  failed agent sample paired with a passing sample of the same x.

Identical (prompt, completion) rows are kept once: duplicates would only weight the
easiest decisions more.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any, Iterable, Sequence

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
    out = []
    for r in reflections:
        if r["passed"]:
            prompt = texts.reflection_messages(decisions[r["decision"]].messages, r["failed_text"], r["failed_feedback"])
            out.append(example(prompt, r["text"], r["decision"], "correction"))
    by_decision: dict[str, list[Row]] = {}
    for s in samples:
        by_decision.setdefault(s["decision"], []).append(s)
    for decision_id, group in by_decision.items():
        good = [s for s in group if s["passed"]]
        if not good:
            continue
        partners = cycle(good)
        for bad in (s for s in group if not s["passed"]):
            prompt = texts.reflection_messages(decisions[decision_id].messages, bad["text"], bad["feedback"])
            out.append(example(prompt, next(partners)["text"], decision_id, "sample_pair"))
    return unique(out)


def unique(rows: Iterable[Row]) -> list[Row]:
    seen, out = set(), []
    for row in rows:
        key = (repr(row["prompt"]), row["completion"][0]["content"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out
