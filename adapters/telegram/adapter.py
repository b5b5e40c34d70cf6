"""The Telegram adapter: python-telegram-bot's ``Bot`` as the client, kefu's inbox as the ack.

kefu uses PTB's ``Bot`` and not its ``Application`` because kefu decides when Telegram is
acknowledged: a webhook request is answered 200 only once its update is durable (in the
inbox, or for an album item in the album journal, see ``journal.py``), and the polling
offset never moves past an update that is not durable yet.

Receiving: the constructor registers ``POST {webhook_path}`` (answered 503 until started);
``start`` calls ``getMe`` (for mentions), stores albums left in the journal, then calls
``setWebhook`` (with ``secret_token`` and ``allowed_updates``, never
``drop_pending_updates``) or starts the ``getUpdates`` loop after a ``deleteWebhook`` that
keeps pending updates. In a process that only delivers (``context.receive`` off) it does
none of the receiving.

Direct notices: when a photo cannot be read (or an unsupported attachment comes with text
the model can read), the turn is stored with the text and a note, and right after the
store the adapter itself tells the customer what went wrong (``core.texts``), once: only
when the inbox did not report a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import secrets
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update
from telegram.error import TelegramError

from adapters.telegram.botapi import MAX_DRAFT_ID, STOP_UPDATE, GenerationStopped, stop_turn
from adapters.telegram.business import BusinessConnections
from adapters.telegram.drafts import TelegramDraftStream
from adapters.telegram.inbound import Received
from adapters.telegram.ingest import UpdateIngestor
from adapters.telegram.journal import AlbumItems, SharedAlbumJournal
from adapters.telegram.local_journal import AlbumJournal
from adapters.telegram.media import MediaFetcher, TokenRedactingFilter
from adapters.telegram.outbound import (
    OutgoingMessage,
    business_connection,
    chat_target,
    quoted_message_id,
    reply_to_messages,
)
from adapters.telegram.polling import Poller
from adapters.telegram.sender import TelegramSender
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.streaming import ChatPacer, TelegramReplyStream
from adapters.telegram.turns import build_turn
from core.errors import (
    ConfigError,
    InvalidInputError,
    KefuError,
    PermanentDeliveryError,
    PlatformError,
)
from core.model.turn import ConversationKey, Reply, Turn
from core.ports import (
    Adapter,
    AdapterContext,
    Capabilities,
    DeliveryReceipt,
    OutboundMessage,
    ReplyStream,
    StreamRequest,
)

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = (
    "message", "edited_message", "callback_query", "business_connection", "business_message",
    "edited_business_message", STOP_UPDATE,
)  # fmt: skip
DraftKey = tuple[int, int | None, int]  # chat, topic, draft id


class TelegramAdapter(Adapter[Received, OutgoingMessage]):
    """Telegram Bot API adapter (webhook in production, polling for development).

    Args:
        context: Inbox, shared web application, image limits.
        settings: Telegram settings.

    Raises:
        ConfigError: no bot token; webhook mode without a secret, a URL or a web application.
    """

    name = "telegram"
    capabilities = Capabilities(
        streaming=True, editing=True, images=True, buttons=True, max_message_chars=4096
    )

    def __init__(self, context: AdapterContext, settings: TelegramSettings) -> None:
        super().__init__(context)
        if settings.bot_token is None or not settings.bot_token.get_secret_value():
            raise ConfigError("telegram: KEFU_TELEGRAM__BOT_TOKEN is not set")
        self.settings = settings
        self._webhook = settings.mode == "webhook" and context.receive
        if self._webhook:
            self._check_webhook_settings()
        token = settings.bot_token.get_secret_value()
        # Installed before the Bot exists: PTB logs its token-bearing base URL on creation.
        self._redactor = TokenRedactingFilter(token)
        self._redactor.install()
        self._bot = Bot(token, base_url=settings.base_url, base_file_url=settings.base_file_url)
        self._pacer = ChatPacer(settings.stream_edit_interval_s)
        self._sender = TelegramSender(
            self._bot, self._pacer, max_sends_in_flight=settings.max_sends_in_flight
        )
        self._journal = self._album_journal(context, settings)
        journal = self._journal
        self._drafts_ok = settings.drafts
        self._draft_ids = itertools.count(secrets.randbelow(MAX_DRAFT_ID // 2) + 1)
        self._live_drafts: dict[DraftKey, tuple[TelegramDraftStream, ConversationKey]] = {}
        self._ingestor = UpdateIngestor(
            self._bot,
            context.inbox,
            MediaFetcher(self._bot, settings.max_file_bytes, context.image_limits, context.images),
            self._sender,
            self.to_turn,
            settings.album_debounce_s,
            journal,
            BusinessConnections(self._bot) if settings.business else None,
            self._on_stop,
        )
        self._poller: Poller | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        if self._webhook:
            assert context.web is not None
            context.web.router.add_post(settings.webhook_path, self._on_webhook)

    # -- lifecycle ---------------------------------------------------------------------

    def _album_journal(
        self, context: AdapterContext, settings: TelegramSettings
    ) -> AlbumItems | None:
        # Replicas share one journal in the store: a load balancer may spread one album's
        # updates over several of them. A process without shared state keeps its own file.
        if not self._webhook:
            return None
        if context.shared is not None:
            return SharedAlbumJournal(context.shared)
        return AlbumJournal(settings.album_journal_path) if settings.album_journal_path else None

    def _check_webhook_settings(self) -> None:
        if self.context.web is None:
            raise ConfigError("telegram: webhook mode needs the HTTP server")
        secret = self.settings.webhook_secret
        if secret is None or not secret.get_secret_value():
            raise ConfigError("telegram: webhook mode needs KEFU_TELEGRAM__WEBHOOK_SECRET")
        if not self.settings.webhook_url:
            raise ConfigError("telegram: webhook mode needs telegram.webhook_url")

    def webhook_url(self) -> str:
        """The URL given to ``setWebhook``: ``webhook_url``, plus ``webhook_path`` if it has none."""
        url = (self.settings.webhook_url or "").rstrip("/")
        return url if urlsplit(url).path else url + self.settings.webhook_path

    async def start(self) -> None:
        """Check the token with ``getMe``; then store albums left in the journal and start
        receiving (webhook or polling), unless this process only delivers.

        Raises:
            ConfigError: a token Telegram does not accept.
            StoreError: the album journal cannot be opened.
            PlatformError: Telegram refused ``setWebhook`` / ``deleteWebhook``.
        """
        try:
            await self._bot.initialize()
        except TelegramError as exc:
            with contextlib.suppress(TelegramError):
                await self._bot.shutdown()
            raise ConfigError(f"telegram: getMe failed: {exc.message}") from None
        if self._journal is not None:
            await self._journal.open()
        self._started = True
        if self.context.receive:
            await self._start_receiving()

    async def _start_receiving(self) -> None:
        recovered = await self._ingestor.replay_journal()
        if recovered:
            log.info("telegram: storing %s album(s) left in the journal", recovered)
        self._ingestor.start_sweeping()  # albums a replica killed since leaves behind
        try:
            if self._webhook:
                assert self.settings.webhook_secret is not None
                await self._bot.set_webhook(
                    self.webhook_url(),
                    secret_token=self.settings.webhook_secret.get_secret_value(),
                    allowed_updates=list(ALLOWED_UPDATES),
                    max_connections=self.settings.webhook_max_connections,
                )
                return
            await self._bot.delete_webhook()  # keeps pending updates: no drop_pending_updates
        except TelegramError as exc:
            raise PlatformError(f"telegram: could not start receiving: {exc.message}") from None
        self._poller = Poller(
            self._bot, self._ingestor.ingest, self.settings.poll_timeout_s, ALLOWED_UPDATES
        )
        self._poll_task = asyncio.create_task(self._poller.run(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop polling, store albums still collecting, finish notices, close the client."""
        if self._closed:
            return
        self._closed = True
        if self._poller is not None and self._poll_task is not None:
            self._poller.stop()
            self._poll_task.cancel()  # an in-flight long poll confirms nothing new
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
        await self._ingestor.close()
        if self._journal is not None:
            await self._journal.close()
        with contextlib.suppress(TelegramError):
            await self._bot.shutdown()
        self._redactor.uninstall()

    # -- inbound -------------------------------------------------------------------------

    async def _on_webhook(self, request: web.Request) -> web.Response:
        """Telegram's POST: 403 on a bad secret, 200 only once the update is durable."""
        if not self._started or self._closed:  # Telegram delivers it again later
            return web.json_response({"error": "starting"}, status=503)
        assert self.settings.webhook_secret is not None
        expected = self.settings.webhook_secret.get_secret_value().encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):  # refused before the body is read
            return web.json_response({"error": "authentication_failed"}, status=403)
        limit = self.settings.max_update_bytes
        if (request.content_length or 0) > limit:
            return web.json_response({"error": "body_too_large"}, status=413)
        body = await request.content.read(limit + 1)
        while len(body) <= limit and (more := await request.content.read(limit + 1 - len(body))):
            body += more  # chunked: capped while it streams
        if len(body) > limit:
            return web.json_response({"error": "body_too_large"}, status=413)
        try:
            raw = json.loads(body)
            update = Update.de_json(raw, self._bot)
        except RecursionError:
            nested = {"error": "invalid_input", "message": "the update is nested too deeply"}
            return web.json_response(nested, status=400)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            error = InvalidInputError(f"malformed Telegram update: {exc}")
            return web.json_response({"error": error.code, "message": str(error)}, status=400)
        try:
            pending = await self._ingestor.ingest(update, raw)
            if pending is not None:
                await asyncio.shield(pending)
        except KefuError as exc:  # not stored: a non-2xx makes Telegram deliver it again
            log.error("telegram update %s not stored: %s", update.update_id, exc)
            return web.json_response({"error": exc.code}, status=exc.http_status)
        return web.json_response({"ok": True})

    def to_turn(self, raw: Received) -> Turn:
        """Merge one message or one album (with fetched media) into one turn. Pure."""
        return build_turn(raw)

    # -- outbound ------------------------------------------------------------------------

    def to_platform(self, reply: Reply) -> list[OutgoingMessage]:
        """Plain-text parts under 4096 UTF-16 units, photos first, buttons on the last part."""
        return reply_to_messages(reply)

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        """Send (or edit the streamed draft into) one outbox reply.

        Raises:
            RateLimitedError: Telegram said 429; ``retry_after`` is Telegram's.
            PermanentDeliveryError: bot blocked, chat gone, or a reply Telegram cannot take.
            PlatformError: any other Bot API failure (retried on the schedule).
        """
        try:
            specs = self.to_platform(message.reply)
        except InvalidInputError as exc:
            raise PermanentDeliveryError(f"outbox {message.outbox_id}: {exc}") from exc
        return await self._sender.deliver(message, specs)

    async def open_stream(self, key: ConversationKey, reply_to: str | None) -> ReplyStream | None:
        """A live preview of an answer (see :meth:`open_reply_stream`)."""
        return await self.open_reply_stream(StreamRequest(key, reply_to))

    async def open_reply_stream(self, request: StreamRequest) -> ReplyStream | None:
        """A native draft in private chats (thinking placeholder, text, stop button), else
        "typing…" and a paced draft message edited as the answer grows."""
        key = request.key
        if key.platform != self.name:
            return None
        chat_id, thread_id = chat_target(key)
        business = business_connection(key)
        if self._drafts_ok and business is None and isinstance(chat_id, int) and chat_id > 0:
            return self._open_draft(request, chat_id, thread_id)
        return TelegramReplyStream(
            self._bot,
            self._pacer,
            chat_id,
            thread_id,
            quoted_message_id(request.reply_to, chat_id),
            self.settings.typing_interval_s,
            business_connection_id=business,
        )

    def _open_draft(
        self, request: StreamRequest, chat_id: int, thread_id: int | None
    ) -> TelegramDraftStream:
        stoppable = request.stoppable and self.settings.stop_button
        can_stop = stoppable and self.context.stops is not None
        draft_id = next(self._draft_ids) % MAX_DRAFT_ID or 1
        stream = TelegramDraftStream(
            self._bot,
            chat_id,
            thread_id,
            draft_id,
            interval_s=self.settings.draft_interval_s,
            keepalive_s=self.settings.draft_keepalive_s,
            can_stop=can_stop,
            on_unsupported=self._drafts_refused,
        )
        self._live_drafts = {k: v for k, v in self._live_drafts.items() if not v[0].closed}
        self._live_drafts[(chat_id, thread_id, draft_id)] = (stream, request.key)
        return stream

    def _drafts_refused(self) -> None:
        # Capability fallback: from the next answer on, stream by paced edits instead.
        self._drafts_ok = False

    async def _on_stop(self, stopped: GenerationStopped) -> None:
        """A pressed stop button: halt the draft and have the core abort the answer."""
        entry = self._live_drafts.pop((stopped.chat_id, stopped.thread_id, stopped.draft_id), None)
        if entry is None:
            # Written by another process (serve --role worker), or finished already: the
            # inbox carries the stop to whoever writes answers in this chat.
            await self.context.inbox.put(stop_turn(stopped))
            return
        stream, key = entry
        stream.halt()
        if self.context.stops is not None:
            await self.context.stops.stop(key)
