"""From a parsed update to a durable turn: albums, photo downloads, notices, button answers.

:class:`UpdateIngestor` is the inbound half of the adapter. ``ingest`` returns only when the
update is durable: in the inbox, or (webhook album items) in the album journal. For album
items without a journal it returns the album's future instead, which completes once the
merged turn is stored (polling holds its offset on it; a journal-less webhook waits on it).

Journaled items are acknowledged before their album is stored, so nothing may leave them
behind: a flush forgets only the items it stored (one that came later stays and becomes a
turn of its own), and :meth:`UpdateIngestor.sweep` stores albums that no process is
collecting any more (their replica was killed and not restarted, or gave up retrying).

After a turn is stored (and only if the inbox did not call it a duplicate), the customer
is told directly about what could not be read (``core.texts``), and button presses are
answered with ``answerCallbackQuery`` to stop the button's spinner.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError

from adapters.telegram.albums import AlbumCollector
from adapters.telegram.botapi import GenerationStopped, generation_stopped
from adapters.telegram.business import BusinessConnections, parse_business
from adapters.telegram.claims import ClaimKeeper
from adapters.telegram.inbound import (
    BotIdentity,
    Inbound,
    MediaOutcome,
    Received,
    parse_update,
)
from adapters.telegram.journal import AlbumItems, AlbumKey
from adapters.telegram.media import MediaFetcher
from adapters.telegram.outbound import OutgoingText, business_connection, chat_target
from adapters.telegram.sender import TelegramSender
from adapters.telegram.turns import language_of, notices_for
from core.errors import KefuError, PlatformError
from core.model.turn import Command, Turn
from core.ports import InboxPort, IngestResult
from core.texts import text

log = logging.getLogger(__name__)

AlbumFuture = asyncio.Future[IngestResult | None]
MAX_ALBUM_RETRIES = 5
SWEEP_MIN_INTERVAL_S = 1.0
MERGE_POLL_S = 0.2
MERGED_PRUNE_EVERY_S = 3600.0
StopHandler = Callable[[GenerationStopped], Awaitable[None]]


class UpdateIngestor:
    """Stores updates as turns.

    Args:
        bot: PTB bot (callback answers).
        inbox: The durable inbox.
        media: Photo fetcher.
        sender: For direct notices.
        to_turn: The adapter's pure translation of received items into one turn.
        album_debounce_s: Quiet time that completes an album.
        journal: Album journal (webhook mode), or None. With a journal, the merged turn is
            built from every item the journal holds (a shared journal: from every replica).
        business: The connected business accounts; None when kefu answers in none.
        on_stop: Handles a pressed stop button (never stored: it must act at once).
    """

    def __init__(
        self,
        bot: Bot,
        inbox: InboxPort,
        media: MediaFetcher,
        sender: TelegramSender,
        to_turn: Callable[[Received], Turn],
        album_debounce_s: float,
        journal: AlbumItems | None = None,
        business: BusinessConnections | None = None,
        on_stop: StopHandler | None = None,
    ) -> None:
        self._bot = bot
        self._business = business
        self._on_stop = on_stop
        self._inbox = inbox
        self._media = media
        self._sender = sender
        self._to_turn = to_turn
        self._journal = journal
        self._debounce_s = album_debounce_s
        self._albums: AlbumCollector[Inbound, IngestResult | None] = AlbumCollector(
            album_debounce_s, self._flush_album, item_id=lambda item: item.message_id
        )
        self._album_retries: dict[AlbumKey, int] = {}
        self._flushing: set[AlbumKey] = set()
        # Longer than any live replica's debounce plus its flush: the album has no owner.
        self._abandoned_after_s = 2 * album_debounce_s + 1.0
        self._background: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def identity(self) -> BotIdentity:
        """Who the bot is (for mentions and commands); known once ``getMe`` has run.

        Raises:
            RuntimeError: the bot is not initialised yet (the adapter is not started).
        """
        return BotIdentity(self._bot.id, self._bot.username)

    async def ingest(self, update: Update, raw: dict[str, Any] | None = None) -> AlbumFuture | None:
        """Make one update durable (see module docstring).

        Args:
            update: The parsed update.
            raw: Its JSON, journaled for webhook album items.

        Raises:
            KefuError: it could not be stored (the platform must deliver it again).
        """
        inbound = await self._understand(update)
        if inbound is None:
            return None
        if inbound.callback_query_id is not None and not inbound.addressed:
            self._spawn(self._answer_callback(inbound.callback_query_id))
            return None
        if inbound.media_group_id is None:
            await self.store([inbound])
            return None
        album = (inbound.key.chat_id, inbound.media_group_id)
        if self._journal is not None and raw is not None:
            await self._journal.add(album, update.update_id, raw)
            self._albums.add(album, inbound)  # stored after the debounce; the journal has it
            return None
        return self._albums.add(album, inbound)

    async def _understand(self, update: Update) -> Inbound | None:
        """The update's message as an :class:`Inbound`, after acting on signals it carries."""
        stopped = generation_stopped(update)
        if stopped is not None:
            if self._on_stop is not None:
                await self._on_stop(stopped)
            return None
        if update.business_connection is not None:
            if self._business is not None:
                self._business.remember(update.business_connection)
            return None
        message = update.business_message or update.edited_business_message
        if message is None:
            return parse_update(update, self.identity)
        if self._business is None or not message.business_connection_id:
            return None
        account = await self._business.get(message.business_connection_id)
        if account is None or not account.answers:
            log.info("business message on %s ignored: kefu may not answer there",
                     message.business_connection_id)  # fmt: skip
            return None
        return parse_business(update, self.identity, account)

    async def store(
        self, items: list[Inbound], fetched: list[MediaOutcome | None] | None = None
    ) -> IngestResult | None:
        """Fetch media (unless ``fetched``, aligned with ``items``), build one turn, store
        it; None when nothing addressed the bot."""
        if not any(item.addressed for item in items):
            return None  # group chatter not meant for the bot: not stored
        outcomes = fetched if fetched is not None else await self._fetch_all(items)
        received = Received(tuple(items), tuple(outcomes))
        turn = self._to_turn(received)
        result = await self._inbox.put(turn)
        if not result.duplicate:
            self._spawn(self._send_notices(turn, received))
        for item in items:
            if item.callback_query_id is not None:
                self._spawn(self._answer_callback(item.callback_query_id))
        return result

    async def _fetch(self, item: Inbound) -> MediaOutcome | None:
        return await self._media.fetch(item.media) if item.media is not None else None

    async def _fetch_all(self, items: list[Inbound]) -> list[MediaOutcome | None]:
        return list(await asyncio.gather(*(self._fetch(item) for item in items)))

    async def _flush_album(self, items: list[Inbound]) -> IngestResult | None:
        first = items[0]
        album = (first.key.chat_id, first.media_group_id or "")
        self._flushing.add(album)
        try:
            return await self._store_album(album, items)
        finally:
            self._flushing.discard(album)

    async def _store_album(self, album: AlbumKey, items: list[Inbound]) -> IngestResult | None:
        try:
            if self._journal is None:
                result = await self.store(items)
            else:
                result = await self._store_journaled(album)
        except KefuError:
            if self._journal is not None:  # nobody waits on a journaled album: retry here
                self._spawn(self._retry_album(album))
            raise
        self._album_retries.pop(album, None)
        return result

    async def _store_journaled(self, album: AlbumKey) -> IngestResult | None:
        """Merge the album's journaled items (claimed, so no other replica merges them
        too) into one turn; items acknowledged while their photos were fetched join it."""
        assert self._journal is not None
        read = await self._journaled_items(album, wait=True)
        update_ids = await self._journal.claim(album, tuple(read))
        if not update_ids:
            return None  # another replica stored the album (or is storing it)
        try:
            async with ClaimKeeper(self._journal, album) as keeper:  # a slow merge stays ours
                keeper.held.update(update_ids)
                items = [item for u in update_ids if (item := read[u]) is not None]
                fetched = await self._fetch_all(items)
                later = await self._journaled_items(album, wait=False)
                for update_id in update_ids:  # ours still: the keeper renews their claims
                    later.pop(update_id, None)
                if later:  # arrived after the debounce, before the turn: not split off
                    won = await self._journal.claim(album, tuple(later))
                    keeper.held.update(won)
                    more = [item for u in won if (item := later[u]) is not None]
                    update_ids += won
                    items += more
                    fetched += await self._fetch_all(more)
                result = await self.store(items, fetched) if items else None
        except BaseException:
            with contextlib.suppress(KefuError):
                await self._journal.release(album, update_ids)
            raise
        # Only what was stored: an item journaled since stays for its own turn.
        await self._journal.done(album, update_ids)
        return result

    async def _journaled_items(self, album: AlbumKey, wait: bool) -> dict[int, Inbound | None]:
        """Journaled items of ``album`` not yet stored nor claimed, by update id (None: an
        update that is no message for the bot); with ``wait``, once the album has been
        quiet for the debounce.

        Other replicas may have received items this one never saw; their time counts too,
        so the album is merged only when no replica has had a new item for the debounce,
        and no other merge of it is under way.
        """
        assert self._journal is not None
        while True:
            found = await self._journal.items(album)
            if not wait:
                break
            if found.quiet_s < self._debounce_s:
                await asyncio.sleep(self._debounce_s - found.quiet_s)
            elif found.payloads and await self._journal.merging(album):
                # Another merge of this album is under way: it takes these items in if it
                # can; what it leaves is stored after it, so the album's parts stay in order.
                await asyncio.sleep(MERGE_POLL_S)
            else:
                break
        return {
            update_id: await self._understand(Update.de_json(json.loads(payload), self._bot))
            for update_id, payload in zip(found.orders, found.payloads, strict=True)
        }

    async def _retry_album(self, album: AlbumKey) -> None:
        attempt = self._album_retries.get(album, 0) + 1
        self._album_retries[album] = attempt
        if attempt > MAX_ALBUM_RETRIES:
            log.error("telegram album %s not stored after %s tries; kept for the next start",
                      album, attempt - 1)  # fmt: skip
            return
        await asyncio.sleep(min(60.0, 2.0 ** (attempt - 1)))
        await self.replay_journal(only=album)

    async def replay_journal(self, only: AlbumKey | None = None) -> int:
        """Merge and store albums left in the journal (at start-up, or to retry one).

        Returns:
            How many albums were queued for storing.
        """
        if self._journal is None:
            return 0
        albums = await self._journal.pending()
        queued = 0
        for album, payloads in albums.items():
            if only is not None and album != only:
                continue
            await self._collect(album, payloads)
            queued += 1
        return queued

    async def _collect(self, album: AlbumKey, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            inbound = await self._understand(Update.de_json(payload, self._bot))
            if inbound is not None:
                self._albums.add(album, inbound)

    def start_sweeping(self) -> None:
        """Store, from now on, journaled albums that no process is collecting (see
        :meth:`sweep`); stopped by :meth:`close`."""
        if self._journal is not None and self._sweeper is None:
            self._sweeper = asyncio.create_task(self.sweep(), name="telegram-album-sweeper")

    async def sweep(self) -> None:
        """Every debounce, adopt journaled albums quiet for longer than any owner would
        leave them: a replica killed in the album's debounce and not restarted (another
        replica's collector never heard of the album), or an album whose retries ran out."""
        journal = self._journal
        assert journal is not None
        interval = max(SWEEP_MIN_INTERVAL_S, self._debounce_s)
        for sweep in itertools.count():
            await asyncio.sleep(interval)
            try:
                if sweep % round(MERGED_PRUNE_EVERY_S / interval) == 0:
                    await journal.forget_merged()
                adopted = await self.adopt_abandoned()
            except KefuError as exc:  # the store is away: the albums wait in the journal
                log.warning("telegram album sweep failed, next in %.1f s: %s", interval, exc)
                continue
            if adopted:
                log.info("telegram: storing %s album(s) no replica was collecting", adopted)

    async def adopt_abandoned(self) -> int:
        """Queue for storing the journaled albums nobody collects; returns how many."""
        assert self._journal is not None
        adopted = 0
        for album in await self._journal.albums():
            if self._albums.collecting(album) or album in self._flushing:
                continue
            found = await self._journal.items(album)
            if found.payloads and found.quiet_s >= self._abandoned_after_s:
                await self._collect(album, [json.loads(p) for p in found.payloads])
                adopted += 1
        return adopted

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self._bot.answer_callback_query(query_id)
        except TelegramError as exc:
            # Only stops the button's spinner; an old or repeated query cannot be answered.
            log.info("answerCallbackQuery %s failed: %s", query_id, exc.message)

    async def _send_notices(self, turn: Turn, received: Received) -> None:
        keys = notices_for(received)
        if not keys or turn.command is Command.TAKEOVER:
            return  # the owner's own messages get no notices
        language = language_of(received.items)
        chat_id, thread_id = chat_target(turn.key)
        quote = received.items[0].telegram_message_id
        for key in keys:
            spec = OutgoingText(
                chat_id, text(key, language), thread_id, quote,
                business_connection_id=business_connection(turn.key),
            )  # fmt: skip
            try:
                await self._sender.send_notice(spec)
            except PlatformError as exc:
                # The turn itself is stored and answered; only this courtesy note is lost.
                log.warning("notice %s to chat %s not sent: %s", key, chat_id, exc)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop sweeping, store albums still collecting, then let notices and answers finish."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self._albums.flush_all()
        if self._background:
            await asyncio.wait(self._background, timeout=timeout_s)
        for task in list(self._background):
            task.cancel()
