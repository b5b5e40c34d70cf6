"""The threads the bot is part of, so replies in them are answered without a new mention."""

from __future__ import annotations

from collections import OrderedDict


class KnownThreads:
    """A bounded, least-recently-used set of ``(channel, thread_ts)`` pairs.

    A thread is known once someone mentioned the bot in it (or in its root) or the bot
    posted into it. Kept in memory: after a restart, an old thread needs one new mention.

    Args:
        capacity: Most threads remembered; the least recently used are forgotten first.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = max(1, capacity)
        self._threads: OrderedDict[tuple[str, str], None] = OrderedDict()

    def add(self, channel: str, thread_ts: str) -> None:
        key = (channel, thread_ts)
        self._threads[key] = None
        self._threads.move_to_end(key)
        while len(self._threads) > self._capacity:
            self._threads.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        if item in self._threads:
            self._threads.move_to_end(item)  # type: ignore[arg-type]
            return True
        return False

    def __len__(self) -> int:
        return len(self._threads)
