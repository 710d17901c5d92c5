"""Many requests at once through the inference layer, with a progress bar.

All requests are awaited together so the backend batches them (the same engine the
simulation uses); replies come back in request order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from govsim.llm.base import LLM, Completion, Request


async def complete_all(llm: LLM, requests: Sequence[Request], desc: str, progress: bool = True) -> list[Completion]:
    from tqdm import tqdm

    with tqdm(total=len(requests), desc=desc, unit="reply", disable=not progress or not requests, dynamic_ncols=True) as bar:

        async def one(request: Request) -> Completion:
            completion = await llm.complete(request)
            bar.update(1)
            return completion

        return list(await asyncio.gather(*(one(r) for r in requests)))
