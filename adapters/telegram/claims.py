"""Keeping an album merge's claims fresh while it runs (see :mod:`adapters.telegram.journal`).

A claim older than ``CLAIM_LEASE_S`` is taken for a dead process's and its items are merged
by another replica. A merge that outlives the lease while alive (slow photo downloads on a
starved machine) renews its claims every third of the lease, so no replica merges them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

from adapters.telegram import journal as album_journal
from adapters.telegram.journal import AlbumItems, AlbumKey
from core.errors import StoreError

log = logging.getLogger(__name__)

MIN_RENEWAL_INTERVAL_S = 0.05  # a lease of 0 (tests: every claim stale) is not renewed in a spin


class ClaimKeeper:
    """Renews one merge's claims every third of ``CLAIM_LEASE_S`` while the merge runs.

    ``async with ClaimKeeper(journal, album) as keeper``, then add each item claimed to
    ``keeper.held``. A renewal that fails or finds a claim gone is logged and the merge goes
    on (an album merged twice with the same items is stored once: the inbox dedupes its id).
    """

    def __init__(self, journal: AlbumItems, album: AlbumKey) -> None:
        self.journal = journal
        self.album = album
        self.held: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ClaimKeeper:
        self._task = asyncio.create_task(self._renew(), name=f"album-claims-{self.album}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(max(MIN_RENEWAL_INTERVAL_S, album_journal.CLAIM_LEASE_S / 3))
            wanted = tuple(sorted(self.held))
            try:
                kept = await self.journal.renew(self.album, wanted)
            except StoreError as exc:
                log.warning("telegram album %s: claims not renewed: %s", self.album, exc)
                continue
            if lost := set(wanted) - set(kept):
                log.warning("telegram album %s: claims on %s lapsed during the merge",
                            self.album, sorted(lost))  # fmt: skip
                self.held -= lost
