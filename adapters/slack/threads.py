"""The threads the bot is part of, so replies in them are answered without a new mention."""

from __future__ import annotations

from collections import OrderedDict

from core.ports import SharedStatePort

NAMESPACE = "slack.thread"


class KnownThreads:
    """The ``(channel, thread_ts)`` pairs the bot is in: a bounded, least-recently-used set
    in this process, backed by the store's shared state where there is one.

    A thread is known once someone mentioned the bot in it (or in its root) or the bot
    posted into it. With shared state, :meth:`join` writes the thread to the store before
    it returns, so every replica, and this one after a restart or a kill, knows it too;
    without, an old thread needs one new mention after a restart.

    Args:
        capacity: Most threads remembered in memory; the least recently used are forgotten
            first (the store still knows them).
        shared: The replicas' shared state, or None (this process's memory only).
    """

    def __init__(self, capacity: int = 10_000, shared: SharedStatePort | None = None) -> None:
        self._capacity = max(1, capacity)
        self._shared = shared
        self._threads: OrderedDict[tuple[str, str], None] = OrderedDict()

    def add(self, channel: str, thread_ts: str) -> None:
        """Know a thread in this process only (see :meth:`join`)."""
        key = (channel, thread_ts)
        self._threads[key] = None
        self._threads.move_to_end(key)
        while len(self._threads) > self._capacity:
            self._threads.popitem(last=False)

    async def join(self, channel: str, thread_ts: str) -> None:
        """Know a thread here and in the shared state (committed when this returns).

        Raises:
            StoreError: the shared state could not be written.
        """
        if (channel, thread_ts) not in self._threads and self._shared is not None:
            await self._shared.remember(NAMESPACE, f"{channel}:{thread_ts}")
        self.add(channel, thread_ts)

    async def knows(self, channel: str, thread_ts: str) -> bool:
        """Whether the bot is in the thread (this process's memory, else the shared state).

        Raises:
            StoreError: the shared state could not be read.
        """
        if (channel, thread_ts) in self:
            return True
        if self._shared is None or not await self._shared.known(
            NAMESPACE, f"{channel}:{thread_ts}"
        ):
            return False
        self.add(channel, thread_ts)
        return True

    def __contains__(self, item: object) -> bool:
        if item in self._threads:
            self._threads.move_to_end(item)  # type: ignore[arg-type]
            return True
        return False

    def __len__(self) -> int:
        return len(self._threads)
