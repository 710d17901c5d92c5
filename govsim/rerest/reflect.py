"""Step 3: the reflector writes one correction per failed sample, scored as a first reply.

The reflector sees the decision input x (its messages' text), the failed reply and the
environment's feedback on it (``templates.yaml``: ``reflection``), and writes the reply
the agent should have given, in the agent's form: a short reasoning (at most
``reflection.max_tokens``; one cut there keeps its full sentences, counted as
``trimmed``), then 'Answer: ' continued under the constraint ``reflection.answer`` names
(``passing``: the amounts that pass x; or the agent's digits), or, with ``free`` or a
backend without constraints, one free reply whose own answer line is read and put in the
agent's form. The correction passes only if, read as the agent's first reply within the
agent's budget, it passes the check on x; what fails is counted by why (``kinds``) and
left out of the training sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.generative.harvest import digits_constraint
from govsim.llm.base import LLM, Constraint, Request, Sampling
from govsim.rerest.config import ReflectionSpec
from govsim.rerest.decisions import Decision
from govsim.rerest.infer import complete_all
from govsim.rerest.reply import Asked, Item, Reader, ask, first_marker, join
from govsim.rerest.sample import scored_row
from govsim.rerest.texts import Texts


async def reflect(
    llm: LLM, decisions: dict[str, Decision], samples: Sequence[dict[str, Any]], spec: ReflectionSpec,
    adapter: str | None, texts: Texts, reader: Reader, progress: bool = True,
) -> list[dict[str, Any]]:
    """One scored correction per failed sample, in sample order."""
    failed = [s for s in samples if not s["passed"]]
    states = [decisions[s["decision"]].state for s in failed]
    items = [
        Item(
            texts.reflection_messages(decisions[s["decision"]].messages, s["text"], s["feedback"], state.upper),
            passing(state.upper) if spec.answer == "bounded" else digits_constraint(state.capacity),
            (("purpose", "rerest_reflect"), ("decision", s["decision"]), ("k", s["k"])),
        )
        for s, state in zip(failed, states)
    ]
    sampling = Sampling(temperature=spec.temperature, max_tokens=spec.max_tokens)
    if spec.answer != "free" and llm.supports_constraints:
        corrections = await ask(llm, items, sampling, adapter, "reflections", progress, trim=True)
    else:
        corrections = await _free(llm, items, sampling, adapter, reader, progress)
    return [
        scored_row(
            decisions[s["decision"]], c.text, texts, reader, k=s["k"], adapter=adapter, trimmed=c.trimmed,
            failed_text=s["text"], failed_feedback=s["feedback"], failed_kind=s["kind"],
        )
        for s, c in zip(failed, corrections)
    ]


async def _free(
    llm: LLM, items: Sequence[Item], sampling: Sampling, adapter: str | None, reader: Reader, progress: bool
) -> list[Asked]:
    """One unconstrained reply per item; a reply with a readable answer is put in the agent's
    form (its reasoning up to the first marker, then 'Answer: N'), others are kept as written."""
    requests = [Request(tuple(i.messages), sampling, adapter=adapter, tags=i.tags) for i in items]
    out = []
    for completion in await complete_all(llm, requests, "reflections", progress):
        text, reading = completion.text, reader.read(completion.text)
        if reading.amount is not None:
            text = join(text[: first_marker(text)[0]], str(reading.amount))
        out.append(Asked(text))
    return out



def passing(upper: int) -> Constraint:
    """The amounts that pass a decision whose most is ``upper``: 1 to upper, or 0 when it is 0."""
    return Constraint(regex="(" + "|".join(str(n) for n in range(1, upper + 1)) + ")" if upper > 0 else "0")
