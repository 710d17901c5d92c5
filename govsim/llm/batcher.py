"""Micro-batching for models that only batch what they are handed at once (the
transformers backend's decoding loop, the MiniLM embedder).

Coroutines ``submit`` items; the first one opens a short window (``window_s``; 0 lets
the callers already scheduled in this turn of the event loop join), and when it closes
everything pending runs as batches (one per key, e.g. per LoRA adapter) in a single
worker thread, so the event loop stays free and the model is never used by two
threads. Items that arrive while a batch runs form the next batch without waiting.
Each event loop has its own queue (a future belongs to its loop), and all loops share
the one worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Queue(Generic[T, R]):
    """The items waiting on one event loop, and the task that runs them."""

    pending: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        run_batch: Callable[[list[T]], list[R]],
        *,
        window_s: float = 0.02,
        max_batch: int | None = 32,
        key: Callable[[T], Hashable] = lambda item: None,
        thread_name: str = "govsim-batch",
    ) -> None:
        """``run_batch`` maps a batch of items to their results, in order; ``max_batch``
        caps a batch's items (None: no cap)."""
        self._run_batch = run_batch
        self._window_s = window_s
        self._max_batch = max_batch
        self._key = key
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._queues: dict[asyncio.AbstractEventLoop, _Queue[T, R]] = {}
        self.batch_sizes: list[int] = []  # sizes of the batches run so far, for tests and logs

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        future: asyncio.Future[R] = loop.create_future()
        queue.pending.append((item, future))
        if queue.flusher is None:
            queue.flusher = loop.create_task(self._flush(loop, queue))
        return await future

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _flush(self, loop: asyncio.AbstractEventLoop, queue: _Queue[T, R]) -> None:
        try:
            await asyncio.sleep(self._window_s)
            while queue.pending:
                batch = self._take(queue)
                self.batch_sizes.append(len(batch))
                try:
                    results: list[Any] = await loop.run_in_executor(self._executor, self._run_batch, [i for i, _ in batch])
                except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():  # a cancelled caller just loses its result
                        future.set_result(result)
        finally:
            for _, future in queue.pending:  # left only when this task was cancelled (its loop is closing)
                future.cancel()
            self._queues.pop(loop, None)

    def _take(self, queue: _Queue[T, R]) -> list[tuple[T, asyncio.Future[R]]]:
        """The oldest pending item's key group, up to ``max_batch`` items, in arrival order."""
        first = self._key(queue.pending[0][0])
        batch = [p for p in queue.pending if self._key(p[0]) == first][: self._max_batch]
        taken = {id(p) for p in batch}
        queue.pending = [p for p in queue.pending if id(p) not in taken]
        return batch
