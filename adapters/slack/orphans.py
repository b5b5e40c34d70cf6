"""Live previews left behind by a killed answer, removed when the answer is made again.

A Slack preview is a real message (``chat.startStream`` or ``chat.postMessage``) posted while
the answer is written. If the process dies before the answer is committed, another worker
answers the same message again and posts a new preview, and the old one would stay: the
customer would see the answer twice. So each preview's ``channel:ts`` is written to the
store's shared state as soon as Slack returns it, keyed by the answered message; opening a
preview for a message first deletes what an earlier attempt left, and the delivery that
finishes a preview forgets the record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from core.errors import PlatformError, StoreError
from core.ports import SharedStatePort

log = logging.getLogger(__name__)

NAMESPACE = "slack.preview"


def _order(ts: str) -> int:
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0) * 1_000_000 + int((micros or "0")[:6].ljust(6, "0"))


class PreviewLedger:
    """Where the previews of answers being written are recorded (see the module docstring).

    Args:
        shared: The replicas' shared state; None records nothing (one process, no kills).
        delete: Deletes a message (``chat.delete``).
    """

    def __init__(
        self, shared: SharedStatePort | None, delete: Callable[[str, str], Awaitable[None]]
    ) -> None:
        self._shared = shared
        self._delete = delete

    async def clear_left_behind(self, answered: str) -> int:
        """Delete the previews an earlier attempt at answering ``answered`` left; how many.

        A store or Slack failure only leaves the old preview in place (logged): the answer
        itself goes on.
        """
        if self._shared is None:
            return 0
        try:
            found = await self._shared.group_items(NAMESPACE, answered)
        except StoreError as exc:
            log.warning("previews left for %s not looked up: %s", answered, exc)
            return 0
        for ref in found.payloads:
            channel, _, ts = ref.rpartition(":")
            try:
                await self._delete(channel, ts)
            except PlatformError as exc:  # already gone, or not ours to delete any more
                log.info("preview %s left by a killed answer not deleted: %s", ref, exc)
        if found.payloads:
            await self.forget(answered)
        return len(found.payloads)

    async def record(self, answered: str, channel: str, ts: str) -> None:
        """Keep a new preview's ref until its answer is delivered (failures logged)."""
        if self._shared is None:
            return
        try:
            await self._shared.add_item(NAMESPACE, answered, _order(ts), f"{channel}:{ts}")
        except StoreError as exc:
            log.warning("preview %s:%s not recorded: %s", channel, ts, exc)

    async def forget(self, answered: str) -> None:
        """The answer was delivered (or its previews deleted): drop the records."""
        if self._shared is None:
            return
        try:
            await self._shared.drop_group(NAMESPACE, answered)
        except StoreError as exc:
            log.warning("preview records of %s not dropped: %s", answered, exc)
