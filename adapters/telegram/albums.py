"""Merging album items into one turn with a debounce.

Telegram sends each photo of an album as its own message sharing a ``media_group_id`` and
never says the album is complete. :class:`AlbumCollector` gathers items per album until
``debounce_s`` passes without a new one, then flushes them together exactly once. Every
caller of :meth:`AlbumCollector.add` gets the flush's outcome, so a webhook request for any
item is answered only after the merged turn is durable, and a failed flush fails them all
(Telegram then redelivers; the inbox dedupes the album id).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass(slots=True)
class _Group(Generic[ItemT, ResultT]):
    items: dict[Hashable, ItemT]
    done: asyncio.Future[ResultT]
    bumped: asyncio.Event = field(default_factory=asyncio.Event)
    flush_now: bool = False
    timer: asyncio.Task[None] | None = None


class AlbumCollector(Generic[ItemT, ResultT]):
    """Debounced grouping of items by album key.

    Args:
        debounce_s: Quiet time after the last item before the album is flushed.
        flush: Called once per album with its items (in arrival order); its result or
            error is what every :meth:`add` caller of that album receives.
        item_id: Identity of an item; a redelivered item is kept once.
    """

    def __init__(
        self,
        debounce_s: float,
        flush: Callable[[list[ItemT]], Awaitable[ResultT]],
        item_id: Callable[[ItemT], Hashable],
    ) -> None:
        self._debounce = debounce_s
        self._flush = flush
        self._item_id = item_id
        self._groups: dict[Hashable, _Group[ItemT, ResultT]] = {}

    @property
    def pending(self) -> int:
        """Albums still collecting."""
        return len(self._groups)

    def collecting(self, album: Hashable) -> bool:
        """Whether ``album`` is collecting here (its flush has not started)."""
        return album in self._groups

    def add(self, album: Hashable, item: ItemT) -> asyncio.Future[ResultT]:
        """Add ``item`` to ``album`` and return the future of the album's flush.

        Await it through :func:`asyncio.shield` if the caller may be cancelled; the flush
        itself is never cancelled by a caller going away.
        """
        loop = asyncio.get_running_loop()
        group = self._groups.get(album)
        if group is None:
            group = _Group({}, loop.create_future())
            self._groups[album] = group
            group.timer = loop.create_task(self._run(album, group), name=f"album-{album}")
        group.items.setdefault(self._item_id(item), item)
        group.bumped.set()  # restarts the quiet period
        return group.done

    async def _run(self, album: Hashable, group: _Group[ItemT, ResultT]) -> None:
        while not group.flush_now:
            group.bumped.clear()
            try:
                await asyncio.wait_for(group.bumped.wait(), self._debounce)
            except TimeoutError:
                break  # quiet for debounce_s: the album is complete
        # Items arriving from now on start a new group (the inbox dedupes the album id).
        self._groups.pop(album, None)
        try:
            result = await self._flush(list(group.items.values()))
        except asyncio.CancelledError:
            group.done.cancel()
            raise
        except Exception as exc:  # handed to every waiter, not swallowed
            group.done.set_exception(exc)
            # Mark it retrieved: polling callers may look at it only through a callback.
            group.done.add_done_callback(_consume_exception)
        else:
            group.done.set_result(result)

    async def flush_all(self) -> None:
        """Flush every collecting album now (used at shutdown) and wait for them."""
        groups = list(self._groups.values())
        for group in groups:
            group.flush_now = True
            group.bumped.set()
        timers = [group.timer for group in groups if group.timer is not None]
        await asyncio.gather(*timers, return_exceptions=True)

    async def close(self) -> None:
        """Cancel albums still collecting (their waiters see CancelledError)."""
        groups = list(self._groups.values())
        self._groups.clear()
        for group in groups:
            if group.timer is not None:
                group.timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await group.timer
            if not group.done.done():
                group.done.cancel()


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
