"""The Telegram adapter: python-telegram-bot's ``Bot`` as the client, kefu's inbox as the ack.

kefu uses PTB's ``Bot`` and not its ``Application`` because kefu decides when Telegram is
acknowledged: a webhook request is answered 200 only once its update is durable (in the
inbox, or for an album item in the album journal, see ``journal.py``), and the polling
offset never moves past an update that is not durable yet.

Receiving: ``initialize`` calls ``getMe`` (for mentions) and registers ``POST
{webhook_path}``; ``start`` stores albums left in the journal, then calls ``setWebhook``
(with ``secret_token`` and ``allowed_updates``, never ``drop_pending_updates``) or starts the
``getUpdates`` loop after a ``deleteWebhook`` that keeps pending updates.

Direct notices: when a photo cannot be read (or an unsupported attachment comes with text
the model can read), the turn is stored with the text and a note, and right after the
store the adapter itself tells the customer what went wrong (``core.texts``), once: only
when the inbox did not report a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update
from telegram.error import TelegramError

from adapters.base import Adapter, AdapterContext, Capabilities
from adapters.telegram.inbound import BotIdentity, Received, build_turn
from adapters.telegram.ingest import UpdateIngestor
from adapters.telegram.journal import AlbumJournal
from adapters.telegram.media import MediaFetcher, TokenRedactingFilter
from adapters.telegram.outbound import (
    OutgoingMessage,
    chat_target,
    quoted_message_id,
    reply_to_messages,
)
from adapters.telegram.polling import Poller
from adapters.telegram.sender import TelegramSender
from adapters.telegram.streaming import ChatPacer, TelegramReplyStream
from config.telegram import TelegramSettings
from core.errors import (
    ConfigError,
    InvalidInputError,
    KefuError,
    PermanentDeliveryError,
    PlatformError,
)
from core.media.images import ImageLimits
from core.model.turn import ConversationKey, Reply, Turn
from core.ports import DeliveryReceipt, OutboundMessage

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")


class TelegramAdapter(Adapter[Received, OutgoingMessage]):
    """Telegram Bot API adapter (webhook in production, polling for development).

    Args:
        context: Inbox, shared web application, retry schedule.
        settings: Telegram settings; defaults to ``load_settings().telegram``.
        image_limits: Limits for incoming photos (``settings.images`` of kefu).
    """

    name = "telegram"
    capabilities = Capabilities(
        streaming=True, editing=True, images=True, buttons=True, max_message_chars=4096
    )

    def __init__(
        self,
        context: AdapterContext,
        settings: TelegramSettings | None = None,
        *,
        image_limits: ImageLimits | None = None,
    ) -> None:
        super().__init__(context)
        if settings is None:
            from config.settings import load_settings  # only when not injected

            settings = load_settings().telegram
        if settings.bot_token is None or not settings.bot_token.get_secret_value():
            raise ConfigError("telegram: KEFU_TELEGRAM__BOT_TOKEN is not set")
        self.settings = settings
        token = settings.bot_token.get_secret_value()
        # Installed before the Bot exists: PTB logs its token-bearing base URL on creation.
        self._redactor = TokenRedactingFilter(token)
        self._redactor.install()
        self._bot = Bot(token, base_url=settings.base_url, base_file_url=settings.base_file_url)
        self._pacer = ChatPacer(settings.stream_edit_interval_s)
        self._sender = TelegramSender(self._bot, self._pacer)
        journal = None
        if settings.mode == "webhook" and settings.album_journal_path:
            journal = AlbumJournal(settings.album_journal_path)
        self._journal = journal
        self._ingestor = UpdateIngestor(
            self._bot,
            context.inbox,
            MediaFetcher(self._bot, settings.max_file_bytes, image_limits),
            self._sender,
            self.to_turn,
            settings.album_debounce_s,
            journal,
        )
        self._poller: Poller | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        """Check the token with ``getMe``, open the album journal, register the webhook route.

        Raises:
            ConfigError: webhook mode without a secret, a URL or a web application, or a
                token Telegram does not accept.
            StoreError: the album journal cannot be opened.
        """
        if self.settings.mode == "webhook":
            self._check_webhook_settings()
        try:
            await self._bot.initialize()
        except TelegramError as exc:
            with contextlib.suppress(TelegramError):
                await self._bot.shutdown()
            raise ConfigError(f"telegram: getMe failed: {exc.message}") from None
        self._ingestor.identity = BotIdentity(self._bot.id, self._bot.username)
        if self._journal is not None:
            await self._journal.open()
        if self.settings.mode == "webhook":
            assert self.context.web is not None
            self.context.web.router.add_post(self.settings.webhook_path, self._on_webhook)

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
        """Store albums left in the journal, then start receiving (webhook or polling).

        Raises:
            PlatformError: Telegram refused ``setWebhook`` / ``deleteWebhook``.
        """
        recovered = await self._ingestor.replay_journal()
        if recovered:
            log.info("telegram: storing %s album(s) left in the journal", recovered)
        try:
            if self.settings.mode == "webhook":
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

    async def shutdown(self) -> None:
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
        assert self.settings.webhook_secret is not None
        expected = self.settings.webhook_secret.get_secret_value().encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"error": "authentication_failed"}, status=403)
        try:
            raw = await request.json()
            update = Update.de_json(raw, self._bot)
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

    async def open_stream(
        self, key: ConversationKey, reply_to: str | None
    ) -> TelegramReplyStream | None:
        """Start "typing…" and a paced draft message for an answer being written."""
        if key.platform != self.name:
            return None
        chat_id, thread_id = chat_target(key)
        return TelegramReplyStream(
            self._bot,
            self._pacer,
            chat_id,
            thread_id,
            quoted_message_id(reply_to, chat_id),
            self.settings.typing_interval_s,
        )
