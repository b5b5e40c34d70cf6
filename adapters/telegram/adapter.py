"""The Telegram adapter: python-telegram-bot's ``Bot`` as the client, kefu's inbox as the ack.

kefu uses PTB's ``Bot`` and not its ``Application`` because kefu decides when Telegram is
acknowledged: a webhook request is answered 200 only after ``inbox.put`` returned (for an
album item: after the merged album turn is stored), and the polling offset never moves
past an update that is not durable yet.

Receiving: ``initialize`` calls ``getMe`` (for mentions) and registers ``POST
{webhook_path}``; ``start`` calls ``setWebhook`` (with ``secret_token`` and
``allowed_updates``, never ``drop_pending_updates``) or starts the ``getUpdates`` loop after
a ``deleteWebhook`` that keeps pending updates.

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
from adapters.telegram.albums import AlbumCollector
from adapters.telegram.inbound import (
    BotIdentity,
    Inbound,
    MediaOutcome,
    Received,
    build_turn,
    language_of,
    notices_for,
    parse_update,
)
from adapters.telegram.media import MediaFetcher, TokenRedactingFilter
from adapters.telegram.outbound import (
    OutgoingMessage,
    OutgoingText,
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
from core.images import ImageLimits
from core.ports import DeliveryReceipt, IngestResult, OutboundMessage
from core.texts import text
from core.turn import ConversationKey, Reply, Turn

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
        self._bot = Bot(token, base_url=settings.base_url, base_file_url=settings.base_file_url)
        self._redactor = TokenRedactingFilter(token)
        self._pacer = ChatPacer(settings.stream_edit_interval_s)
        self._sender = TelegramSender(self._bot, self._pacer)
        self._media = MediaFetcher(self._bot, settings.max_file_bytes, image_limits)
        self._albums: AlbumCollector[Inbound, IngestResult | None] = AlbumCollector(
            settings.album_debounce_s, self._store_items, item_id=lambda item: item.message_id
        )
        self._identity: BotIdentity | None = None
        self._poller: Poller | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        """Check the token with ``getMe`` and register the webhook route.

        Raises:
            ConfigError: webhook mode without a secret, a URL or a web application, or a
                token Telegram does not accept.
        """
        self._redactor.install()
        if self.settings.mode == "webhook":
            self._check_webhook_settings()
        try:
            await self._bot.initialize()
        except TelegramError as exc:
            raise ConfigError(f"telegram: getMe failed: {exc.message}") from None
        self._identity = BotIdentity(self._bot.id, self._bot.username)
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
        """Start receiving: ``setWebhook``, or the polling loop."""
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
            self._bot, self._ingest, self.settings.poll_timeout_s, ALLOWED_UPDATES
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
        await self._albums.flush_all()
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        for task in self._background:
            task.cancel()
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
            update = Update.de_json(await request.json(), self._bot)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            error = InvalidInputError(f"malformed Telegram update: {exc}")
            return web.json_response({"error": error.code, "message": str(error)}, status=400)
        try:
            pending = await self._ingest(update)
            if pending is not None:
                await asyncio.shield(pending)
        except KefuError as exc:  # not stored: a non-2xx makes Telegram deliver it again
            log.error("telegram update %s not stored: %s", update.update_id, exc)
            return web.json_response({"error": exc.code}, status=exc.http_status)
        return web.json_response({"ok": True})

    async def _ingest(self, update: Update) -> asyncio.Future[IngestResult | None] | None:
        """Store one update; returns the album's future when it waits for its album."""
        assert self._identity is not None, "initialize() first"
        inbound = parse_update(update, self._identity)
        if inbound is None:
            return None
        if inbound.callback_query_id is not None and not inbound.addressed:
            self._spawn(self._answer_callback(inbound.callback_query_id))
            return None
        if inbound.media_group_id is not None:
            album = (inbound.key.chat_id, inbound.media_group_id)
            return self._albums.add(album, inbound)
        await self._store_items([inbound])
        return None

    async def _store_items(self, items: list[Inbound]) -> IngestResult | None:
        """Fetch media, build one turn, store it; None when nothing addressed the bot."""
        if not any(item.addressed for item in items):
            return None  # group chatter not meant for the bot: not stored
        outcomes = await asyncio.gather(*(self._fetch(item) for item in items))
        received = Received(tuple(items), tuple(outcomes))
        turn = self.to_turn(received)
        result = await self.context.inbox.put(turn)
        if not result.duplicate:
            self._spawn(self._send_notices(turn, received))
        for item in items:
            if item.callback_query_id is not None:
                self._spawn(self._answer_callback(item.callback_query_id))
        return result

    async def _fetch(self, item: Inbound) -> MediaOutcome | None:
        return await self._media.fetch(item.media) if item.media is not None else None

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
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
        if not keys:
            return
        language = language_of(received.items, turn.text)
        chat_id, thread_id = chat_target(turn.key)
        quote = received.items[0].telegram_message_id
        for key in keys:
            spec = OutgoingText(chat_id, text(key, language), thread_id, quote)
            try:
                await self._sender.send_notice(spec)
            except PlatformError as exc:
                # The turn itself is stored and answered; only this courtesy note is lost.
                log.warning("notice %s to chat %s not sent: %s", key, chat_id, exc)

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
