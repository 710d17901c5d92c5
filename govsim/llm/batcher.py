"""Micro-batching for engines that only batch what they are handed at once.

Coroutines ``submit`` items; the first one opens a short window, and when it closes
everything pending runs as batches (one per key, e.g. per LoRA adapter) in a single
worker thread, so the event loop stays free and the model is never used by two
threads. Items that arrive while a batch runs form the next batch without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        run_batch: Callable[[list[T]], list[R]],
        *,
        window_s: float = 0.02,
        max_batch: int = 32,
        key: Callable[[T], Hashable] = lambda item: None,
        thread_name: str = "govsim-batch",
    ) -> None:
        self._run_batch = run_batch
        self._window_s = window_s
        self._max_batch = max_batch
        self._key = key
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batch_sizes: list[int] = []  # sizes of the batches run so far, for tests and logs

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _flush(self) -> None:
        await asyncio.sleep(self._window_s)
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._take()
            self.batch_sizes.append(len(batch))
            items = [item for item, _ in batch]
            try:
                results: list[Any] = await loop.run_in_executor(self._executor, self._run_batch, items)
            except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The oldest pending item's key group, up to ``max_batch`` items, in arrival order."""
        first = self._key(self._pending[0][0])
        batch = [p for p in self._pending if self._key(p[0]) == first][: self._max_batch]
        taken = {id(p) for p in batch}
        self._pending = [p for p in self._pending if id(p) not in taken]
        return batch
