"""Slack files fetched after the acknowledgement: the turn waits for them, nothing is lost.

Slack must be answered within 3 s, and on a loaded machine an image download (plus its
normalisation) does not always fit in ``ack_budget_s``. Such a *late* file (a timeout only:
a refused file, an HTML login page, one too large or not an image stays a note) no longer
turns into a note for good. :meth:`DeferredFiles.put` stores the turn at once, with a note
where each late file goes, but *held* (:class:`core.ports.HeldTurnsPort`): workers cannot
claim it, and later messages of its thread wait behind it. The references of the late files
(Slack file id, name, ``url_private``, size, and which part they replace) are stored with it.

A background task of the adapter (:meth:`DeferredFiles.start` / :meth:`DeferredFiles.stop`)
then lets the downloads still running finish, retries failed or stalled ones with bounded
exponential backoff (tenacity), and replaces the notes by the images (or by a final note
after ``deferred_file_timeout_s``, or for a refusal), releasing the hold in the same
transaction. It keeps a lease on each turn it works on and renews it; held turns whose
lease expired (a process killed with ``kill -9``, this one before its restart) are taken
over by the scan, which also runs at start-up. Downloads go through the same
:class:`adapters.slack.files.SlackFileFetcher`, so the bot token still goes only to the
allowed hosts, whatever the stored URL says.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from adapters.slack.files import Collected, SlackFileFetcher, file_note
from adapters.slack.payloads import SlackFile
from core.errors import FetchError, ImageError, KefuError, TransientFetchError
from core.model.turn import ImagePart, Part, Turn
from core.ports import HeldTurn, HeldTurnsPort, IngestResult

log = logging.getLogger(__name__)

PLATFORM = "slack"
HOLD_GRACE_S = 30.0  # the hold outlasts the deadline by this much (see core.store.held)
SCAN_BATCH = 16  # held turns taken per scan
MAX_RUNNING = 64  # held turns fetched at once by this process
RETRY_WAIT = wait_exponential(multiplier=0.5, min=0.5, max=8)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DeferredTimes:
    """How long late files are waited for.

    Attributes:
        timeout_s: From the event until a late file is given up (``deferred_file_timeout_s``).
        attempt_s: Longest single download attempt (``deferred_file_attempt_s``).
        lease_s: Lease on a held turn, renewed every third of it (``deferred_file_lease_s``).
    """

    timeout_s: float
    attempt_s: float
    lease_s: float = 10.0


@dataclass(frozen=True, slots=True)
class _Pending:
    part: int  # index in the turn's parts of the note this file replaces
    file: SlackFile
    download: asyncio.Task[ImagePart] | None = None


def file_ref(pending: _Pending) -> dict[str, Any]:
    """What is stored about a late file (JSON)."""
    file = pending.file
    return {
        "part": pending.part, "file_id": file.file_id, "name": file.name,
        "mimetype": file.mimetype, "size": file.size, "url": file.url, "mode": file.mode,
    }  # fmt: skip


def ref_file(ref: dict[str, Any]) -> _Pending:
    """A stored reference back as a late file (no download running)."""
    file = SlackFile(
        str(ref.get("file_id", "")), str(ref.get("name", "")), str(ref.get("mimetype", "")),
        int(ref.get("size", 0)), str(ref.get("url", "")), str(ref.get("mode", "")),
    )  # fmt: skip
    return _Pending(int(ref.get("part", -1)), file)


class DeferredFiles:
    """Stores turns with late files held, and completes them in the background.

    Args:
        held: Where held turns live (the store).
        fetcher: The adapter's file fetcher (host allowlist, limits, decoder).
        times: Deadlines and the lease.
    """

    def __init__(
        self, held: HeldTurnsPort, fetcher: SlackFileFetcher, times: DeferredTimes
    ) -> None:
        self._held = held
        self._fetcher = fetcher
        self._times = times
        self.owner = f"slack-files-{uuid.uuid4().hex[:12]}"
        self._running: dict[int, asyncio.Task[None]] = {}
        self._scanner: asyncio.Task[None] | None = None
        self.resolved = 0  # turns released by this process (images or notes)

    async def put(self, turn: Turn, collected: Collected) -> IngestResult:
        """Store ``turn`` held for its late files and go on fetching them.

        Raises:
            StoreError: the turn was not stored (Slack is not acknowledged and retries).
        """
        offset = len(turn.parts) - len(collected.parts)  # the message text comes first
        pending = [
            _Pending(offset + late.index, late.file, late.download) for late in collected.late
        ]
        hold_s = self._times.timeout_s + HOLD_GRACE_S
        try:
            result = await self._held.put_held(
                turn, [file_ref(p) for p in pending], self.owner, self._times.lease_s, hold_s
            )
        except BaseException:
            collected.cancel()
            raise
        if result.duplicate:
            collected.cancel()  # the first delivery of this message is being completed
            return result
        deadline = utcnow() + timedelta(seconds=self._times.timeout_s)
        self._spawn(result.turn_id, turn, pending, deadline)
        return result

    def start(self) -> None:
        """Start the background task: it takes over held turns nobody fetches (after a
        restart: this process's own), and renews the leases of those it works on."""
        if self._scanner is None:
            self._scanner = asyncio.create_task(self._scan_forever(), name="slack-late-files")

    async def stop(self) -> None:
        """Stop fetching; the turns still held are taken over after their lease expires
        (by another replica, or by this process after its restart)."""
        tasks = [t for t in (self._scanner, *self._running.values()) if t is not None]
        self._scanner = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # failures were logged

    @property
    def running(self) -> int:
        """Held turns this process is completing now."""
        return len(self._running)

    async def _scan_forever(self) -> None:
        while True:
            try:
                await self._scan()
            except KefuError as exc:  # the store is down: leases lapse, turns are taken over
                log.warning("slack late files: scan failed: %s: %s", exc.code, exc)
            await asyncio.sleep(self._times.lease_s / 3)

    async def _scan(self) -> None:
        """Renew our leases (dropping turns we lost), then take held turns nobody fetches."""
        mine = await self._held.renew_held(list(self._running), self.owner, self._times.lease_s)
        for turn_id in [t for t in self._running if t not in mine]:
            self._running.pop(turn_id).cancel()  # another process has it, or it was answered
        room = min(SCAN_BATCH, MAX_RUNNING - len(self._running))
        if room <= 0:
            return
        for held in await self._held.take_held(PLATFORM, self.owner, self._times.lease_s, room):
            if held.turn_id not in self._running:
                self._resume(held)

    def _resume(self, held: HeldTurn) -> None:
        deadline = held.stored_at + timedelta(seconds=self._times.timeout_s)
        # A turn resumed after its deadline (the process was down) still gets one attempt.
        deadline = max(deadline, utcnow() + timedelta(seconds=self._times.attempt_s))
        log.info("slack late files: resuming turn %s (%d files)", held.turn_id, len(held.pending))
        self._spawn(held.turn_id, held.turn, [ref_file(r) for r in held.pending], deadline)

    def _spawn(
        self, turn_id: int, turn: Turn, pending: Sequence[_Pending], deadline: datetime
    ) -> None:
        task = asyncio.create_task(self._complete(turn_id, turn, pending, deadline))
        self._running[turn_id] = task
        task.add_done_callback(lambda done: self._forget(turn_id, done))

    def _forget(self, turn_id: int, task: asyncio.Task[None]) -> None:
        if self._running.get(turn_id) is task:
            del self._running[turn_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("slack late files: turn %s failed", turn_id, exc_info=task.exception())

    async def _complete(
        self, turn_id: int, turn: Turn, pending: Sequence[_Pending], deadline: datetime
    ) -> None:
        """Fetch the turn's late files, then put them in place and release the hold."""
        remaining = max(0.0, (deadline - utcnow()).total_seconds())
        fetched = await asyncio.gather(*(self._fetch(p, remaining) for p in pending))
        parts = list(turn.parts)
        for late, part in zip(pending, fetched, strict=True):
            if 0 <= late.part < len(parts):
                parts[late.part] = part
            else:  # a reference that lost its place still reaches the model
                parts.append(part)
        try:
            resolved = await self._held.resolve_held(turn_id, self.owner, tuple(parts))
        except KefuError as exc:  # our lease lapses; the scan takes the turn again
            log.warning("slack late files: turn %s not released: %s", turn_id, exc)
            return
        if resolved:
            self.resolved += 1
        else:
            log.warning("slack late files: turn %s was no longer ours to release", turn_id)

    async def _fetch(self, pending: _Pending, remaining_s: float) -> Part:
        """The image of one late file, or its note: retried until ``remaining_s`` is up."""
        file = pending.file
        try:
            async with asyncio.timeout(remaining_s):
                if pending.download is not None:
                    image = await self._running_download(pending.download)
                    if image is not None:
                        return image
                return await self._retried(file)
        except TimeoutError:
            reason = f"download did not finish within {self._times.timeout_s:g} s"
            return file_note(file, reason)
        except (FetchError, ImageError) as exc:
            return file_note(file, f"{exc.code}: {exc}")
        except Exception:  # never retried for ever: the turn is answered with a note
            log.exception("slack late files: file %s failed unexpectedly", file.file_id)
            return file_note(file, "it could not be downloaded")

    async def _running_download(self, download: asyncio.Task[ImagePart]) -> ImagePart | None:
        """The download started before the ack, if it finishes within one attempt's time;
        None when it failed transiently or stalled (then it is tried again)."""
        try:
            await asyncio.wait([download], timeout=self._times.attempt_s)
        finally:
            if not download.done():
                download.cancel()
        if not download.done():  # stalled: cancelled above, let it wind down
            await asyncio.wait([download])
        if download.cancelled():
            return None
        error = download.exception()
        if isinstance(error, TransientFetchError):
            return None
        return download.result()  # a refusal raises here: FetchError or ImageError

    async def _retried(self, file: SlackFile) -> ImagePart:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((TransientFetchError, TimeoutError)),
            wait=RETRY_WAIT,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with asyncio.timeout(self._times.attempt_s):
                    return await self._fetcher.fetch_image(file)
        raise AssertionError("unreachable: tenacity either returns or re-raises")
