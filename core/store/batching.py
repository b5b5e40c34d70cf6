"""Group commit: concurrent callers of one kind of write share a transaction.

Under load, hundreds of requests or answers finish at the same moment. Each in its own
transaction would cost a disk sync and a trip to the database apiece; collecting the ones
that arrive together into one transaction keeps "durable before acknowledged" and
multiplies throughput, at no latency cost when the load is light (a lone item is written
at once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection

from core.errors import StoreConflictError, StoreError
from core.store.db import Database

Item = TypeVar("Item")
Result = TypeVar("Result")
WriteMany = Callable[[Connection, Sequence[Item]], Sequence[Result | Exception]]


@dataclass(slots=True)
class _Pending(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result]


class WriteBatcher(Generic[Item, Result]):
    """Collects :meth:`submit` calls and writes them with ``write_many`` in one transaction.

    Args:
        db: The database.
        write_many: Writes a batch inside a transaction; returns one result per item, or an
            exception for an item that failed on its own (raised to that caller only).
        name: Task name, for debugging.
        max_batch: Most items per transaction.
        one_by_one: Called per item when the batch hits a unique-key race with another
            process; it resolves the race row by row. Any other failed batch of several
            items is retried an item per transaction, so one bad item fails alone.
        after: Called after each batch (for example to wake a worker).
        urgent: Requests wait for these writes before they are acknowledged: they go ahead
            of other queued transactions (:meth:`Database.write`).
    """

    def __init__(
        self,
        db: Database,
        write_many: WriteMany[Item, Result],
        name: str,
        *,
        max_batch: int = 256,
        one_by_one: Callable[[Item], Awaitable[Result]] | None = None,
        after: Callable[[], None] | None = None,
        urgent: bool = False,
    ) -> None:
        self.db = db
        self.write_many = write_many
        self.name = name
        self.max_batch = max_batch
        self.one_by_one = one_by_one
        self.after = after
        self.urgent = urgent
        self._queue: asyncio.Queue[_Pending[Item, Result]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._writing = 0  # items in the transaction under way
        self._closed = False

    @property
    def waiting(self) -> int:
        """Items submitted and not yet committed (queued, or in the transaction under way)."""
        return self._queue.qsize() + self._writing

    async def submit(self, item: Item) -> Result:
        """Write ``item`` with whatever else is waiting; returns after the commit.

        Raises:
            StoreError: the transaction failed, or the batcher is closed.
        """
        if self._closed:
            raise StoreError("the store is closing")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.name)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return await future

    async def close(self, timeout_s: float = 10.0) -> None:
        """Finish the writes already submitted (up to ``timeout_s``), then stop."""
        self._closed = True
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._busy or not self._queue.empty():
                    await asyncio.sleep(0.005)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        while not self._queue.empty():
            _fail([self._queue.get_nowait()], StoreError("the store is closing"))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy, self._writing = True, len(batch)
            try:
                await self._write(batch)
            except BaseException as exc:
                # Whatever happened, no caller may wait forever for this batch.
                _fail(batch, StoreError(f"could not write: {exc!r}"))
                if not isinstance(exc, Exception):
                    raise  # cancelled: stop
            finally:
                self._busy, self._writing = False, 0

    async def _write(self, batch: list[_Pending[Item, Result]]) -> None:
        items = [p.item for p in batch]
        try:
            results = await self.db.write(
                lambda conn: self.write_many(conn, items), urgent=self.urgent
            )
        except StoreError as exc:
            if isinstance(exc, StoreConflictError) and self.one_by_one is not None:
                await self._one_by_one(batch, self.one_by_one)
            elif len(batch) > 1:
                await self._one_by_one(batch, self._alone)  # one bad item fails alone
            else:
                _fail(batch, exc)
        else:
            _settle(batch, results)
        if self.after is not None:
            self.after()

    async def _alone(self, item: Item) -> Result:
        (result,) = await self.db.write(
            lambda conn: self.write_many(conn, [item]), urgent=self.urgent
        )
        if isinstance(result, Exception):
            raise result
        return result

    async def _one_by_one(
        self, batch: list[_Pending[Item, Result]], write: Callable[[Item], Awaitable[Result]]
    ) -> None:
        for pending in batch:
            try:
                result = await write(pending.item)
            except Exception as exc:  # each caller gets its own item's outcome
                if not pending.future.done():
                    pending.future.set_exception(exc)
                continue
            if not pending.future.done():
                pending.future.set_result(result)


def _settle(batch: Sequence[_Pending[Item, Result]], results: Sequence[Result | Exception]) -> None:
    for pending, result in zip(batch, results, strict=True):
        if pending.future.done():
            continue  # the caller was cancelled
        if isinstance(result, Exception):
            pending.future.set_exception(result)
        else:
            pending.future.set_result(result)


def _fail(batch: Sequence[_Pending[Item, Result]], error: StoreError) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)
