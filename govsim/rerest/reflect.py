"""Step 3: the reflector writes one correction per failed sample, scored by the same check.

The reflector sees the decision input x (its messages' text), the failed reply, and the
environment's feedback on it (``templates.yaml``: ``reflection``); its correction is a
complete harvest reply that must pass on x. With ``constrain_answer``, a correction that
names no amount is completed by one follow-up turn in the same chat, answered under the
agent's own 'Answer: N <unit>.' constraint; the correction is then its free text followed
by that line. All first attempts go to the backend at once, then all follow-ups.
"""

from __future__ import annotations

from typing import Any, Sequence

from agents.generative.harvest import answer_constraint, parse_amount
from govsim.llm.base import LLM, Request, Sampling
from govsim.rerest.config import ReflectionSpec
from govsim.rerest.decisions import Decision
from govsim.rerest.infer import complete_all
from govsim.rerest.sample import scored_row
from govsim.rerest.texts import Texts


async def reflect(
    llm: LLM, decisions: dict[str, Decision], samples: Sequence[dict[str, Any]], spec: ReflectionSpec,
    adapter: str | None, texts: Texts, progress: bool = True,
) -> list[dict[str, Any]]:
    """One scored correction per failed sample, in sample order."""
    failed = [s for s in samples if not s["passed"]]
    sampling = Sampling(temperature=spec.temperature, max_tokens=spec.max_tokens)
    chats = [texts.reflection_messages(decisions[s["decision"]].messages, s["text"], s["feedback"]) for s in failed]

    def request(messages, s, **kw) -> Request:
        tags = (("purpose", "rerest_reflect"), ("decision", s["decision"]), ("k", s["k"]))
        return Request(messages=tuple(messages), sampling=sampling, adapter=adapter, tags=tags, **kw)

    first = await complete_all(llm, [request(m, s) for m, s in zip(chats, failed)], "reflections", progress)
    corrections = [c.text for c in first]
    if spec.constrain_answer and llm.supports_constraints:
        capacity = [decisions[s["decision"]].state.capacity for s in failed]
        await _complete_answers(llm, chats, failed, capacity, corrections, request, texts, progress)
    return [
        scored_row(
            decisions[s["decision"]], text, texts, k=s["k"], adapter=adapter,
            failed_text=s["text"], failed_feedback=s["feedback"], failed_kind=s["kind"],
        )
        for s, text in zip(failed, corrections)
    ]


async def _complete_answers(llm, chats, failed, capacity, corrections, request, texts: Texts, progress: bool) -> None:
    """Append a constrained 'Answer: N <unit>.' to every correction that names no amount."""
    missing = [i for i, text in enumerate(corrections) if parse_amount(text) is None]
    if not missing:
        return
    unit = texts.vocabulary["unit"]
    follow_ups = [
        request(
            [*chats[i], {"role": "assistant", "content": corrections[i]}, {"role": "user", "content": texts.answer_request()}],
            failed[i],
            constraint=answer_constraint(capacity[i], unit),
        )
        for i in missing
    ]
    answers = await complete_all(llm, follow_ups, "answers", progress)
    for i, answer in zip(missing, answers):
        corrections[i] = f"{corrections[i].rstrip()}\n{answer.text.strip()}".lstrip()
