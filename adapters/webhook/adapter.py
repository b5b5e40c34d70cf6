"""The generic webhook adapter: any platform that can POST JSON and receive callbacks.

Inbound: ``POST /webhooks/{source}``, signed per Standard Webhooks, idempotent on
``webhook-id``; the turn is stored durably before the 202. Replies go out three ways:

* **callback** (default): the outbox dispatcher calls :meth:`WebhookAdapter.deliver`, which
  POSTs a signed :class:`ReplyEvent` to the source's ``callback_url`` and is retried on
  ``retry_schedule`` (from ``callback_retry_schedule_s``), then dead-lettered;
* ``?wait=true``: the request waits up to ``wait_timeout_s`` and returns every reply (200),
  or 202 when the wait runs out;
* ``?stream=true`` / ``Accept: text/event-stream``: Server-Sent Events ``accepted``,
  ``partial`` (live text), ``reply`` (each reply), then ``done`` (or ``timeout``).

Callbacks are sent for every reply whenever a ``callback_url`` is configured, also for
waited or streamed turns (at-least-once; receivers dedupe on ``webhook-id``). ``wait``
and SSE are in-process (see :mod:`adapters.webhook.live`): the request must reach the
process that answers. ``GET /webhooks/openapi.json`` serves the API description (without
the configured source names: they are not for strangers).
"""

from __future__ import annotations

import base64
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import ClassVar, Literal

from aiohttp import web

from adapters.webhook.callbacks import CallbackSender
from adapters.webhook.inbound import (
    ImageLoader,
    InvalidImageField,
    RequestRejected,
    VerifiedRequest,
    error_response,
    kefu_error_response,
    parse_message,
    read_capped_body,
    require_json,
)
from adapters.webhook.live import LiveRequest, ReplyBook
from adapters.webhook.openapi import build_openapi
from adapters.webhook.responses import json_response, stream_replies, wait_for_replies
from adapters.webhook.schema import (
    AcceptedResponse,
    ButtonOut,
    ConfidenceOut,
    ImageOut,
    ReplyContent,
    ReplyEvent,
)
from adapters.webhook.settings import WebhookSettings, WebhookSource
from adapters.webhook.signing import SignatureVerifier, parse_secret
from core.errors import ConfigError, KefuError, PermanentDeliveryError
from core.media.fetch import FetchPolicy, SafeFetcher
from core.model.turn import (
    CUSTOMER_COMMANDS,
    Command,
    ConversationKey,
    Part,
    Reply,
    Role,
    Sender,
    TextPart,
    Turn,
)
from core.ports import (
    Adapter,
    AdapterContext,
    Capabilities,
    DeliveryReceipt,
    OutboundMessage,
    ReplyStream,
)

COMMANDS: dict[str, Command] = {c.value: c for c in CUSTOMER_COMMANDS}
SOURCE_NAME = re.compile(r"[A-Za-z0-9_-]{1,48}")  # "webhook:<name>" fits the 64-char column
REPLAY_MEMORY = 10_000
Mode = Literal["ack", "wait", "stream"]
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    verifier: SignatureVerifier
    signing_key: bytes = field(repr=False)  # never in logs
    callback_url: str | None = None


def _build_source(
    name: str, config: WebhookSource, settings: WebhookSettings, clock: Callable[[], float]
) -> _Source:
    if not SOURCE_NAME.fullmatch(name):
        raise ConfigError(f"webhook source name {name!r} must match {SOURCE_NAME.pattern}")
    if config.secret is None:
        raise ConfigError(
            f"webhook source {name!r} has no secret; set KEFU_WEBHOOK__SOURCES__{name.upper()}__SECRET"
        )
    keys = [parse_secret(s.get_secret_value()) for s in (config.secret, *config.previous_secrets)]
    return _Source(
        name, SignatureVerifier(keys, settings.tolerance_s, clock), keys[0], config.callback_url
    )


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name)
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise RequestRejected(
        422, "invalid_query", f"query parameter {name!r} must be true or false", name
    )


def _reply_mode(request: web.Request) -> Mode:
    stream = _flag(request, "stream") or "text/event-stream" in request.headers.get("Accept", "")
    wait = _flag(request, "wait")
    return "stream" if stream else "wait" if wait else "ack"


def _command_of(message_action: str | None, text: str | None) -> Command | None:
    """A pressed button's action, or a leading ``/command`` in the text."""
    if message_action:
        return COMMANDS.get(message_action.strip().lstrip("/").lower())
    words = (text or "").strip().split(maxsplit=1)
    if words and words[0].startswith("/"):
        return COMMANDS.get(words[0][1:].lower())
    return None


class WebhookAdapter(Adapter[VerifiedRequest, ReplyContent]):
    """Standard Webhooks in, signed callbacks / wait / SSE out.

    Args:
        context: Inbox, the shared aiohttp application and image limits.
        settings: Webhook settings.
        fetcher: Fetcher for ``{"url": …}`` images (default: SSRF-guarded per settings).
        clock: Unix time source for signature tolerance (injectable for tests).

    Raises:
        ConfigError: a source has no secret, a bad secret, or a bad name.
    """

    name: ClassVar[str] = "webhook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, editing=False, images=True, buttons=True, max_message_chars=1_000_000
    )

    def __init__(
        self,
        context: AdapterContext,
        settings: WebhookSettings,
        *,
        fetcher: SafeFetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(context)
        self.settings = settings
        # The dispatcher reads delays *between* attempts; the first entry is the first
        # attempt itself ("now"), so it is not a delay.
        self.retry_schedule = tuple(self.settings.callback_retry_schedule_s[1:])
        self.book = ReplyBook()
        self._sources = {
            n: _build_source(n, c, self.settings, clock) for n, c in self.settings.sources.items()
        }
        self._callbacks = CallbackSender(self.settings.callback_timeout_s)
        if fetcher is None and self.settings.allow_image_urls:
            fetcher = SafeFetcher(
                FetchPolicy.allowing(
                    *self.settings.image_url_allow_networks,
                    max_bytes=self.settings.max_image_bytes,
                    timeout_s=self.settings.fetch_timeout_s,
                )
            )
        self._fetcher = fetcher
        # The source's own cap applies on top of kefu's image limits.
        limit = min(context.image_limits.max_bytes, self.settings.max_image_bytes)
        self._images = ImageLoader(
            fetcher, replace(context.image_limits, max_bytes=limit), context.images
        )
        self._recent: OrderedDict[tuple[str, str], tuple[AcceptedResponse, ConversationKey]] = (
            OrderedDict()
        )
        self._register_routes()

    # -- lifecycle ------------------------------------------------------------------------

    def _register_routes(self) -> None:
        """``POST /webhooks/{source}`` and ``GET /webhooks/openapi.json`` on the shared app."""
        if self.context.web is None or not self.context.receive:
            return
        self.context.web.router.add_post("/webhooks/{source}", self._handle)
        self.context.web.router.add_get("/webhooks/openapi.json", self._openapi)

    async def start(self) -> None:
        """Nothing to connect: requests are served from the routes, callbacks on demand."""

    async def stop(self) -> None:
        await self._callbacks.close()
        if self._fetcher is not None:
            await self._fetcher.close()

    # -- translation (pure) -----------------------------------------------------------------

    def to_turn(self, raw: VerifiedRequest) -> Turn:
        message = raw.message
        parts: list[Part] = (
            [TextPart(message.text)] if message.text and message.text.strip() else []
        )
        parts.extend(raw.images)
        return Turn(
            key=ConversationKey(self.name, message.conversation_id, source=raw.source),
            sender=Sender(message.user.id, message.user.name or "", Role.CUSTOMER),
            message_id=raw.headers.webhook_id,
            parts=tuple(parts),
            timestamp=datetime.fromtimestamp(raw.headers.timestamp, UTC),
            reply_to=message.reply_to,
            command=_command_of(message.action, message.text),
        )

    def to_platform(self, reply: Reply) -> list[ReplyContent]:
        confidence = reply.confidence
        return [
            ReplyContent(
                text=reply.text,
                kind=reply.kind.value,  # type: ignore[arg-type]
                reply_to=reply.reply_to,
                confidence=ConfidenceOut(score=confidence.score, reasons=list(confidence.reasons))
                if confidence
                else None,
                buttons=[ButtonOut(label=b.label, action=b.token) for b in reply.buttons],
                images=[
                    ImageOut(
                        mime=i.mime,
                        width=i.width,
                        height=i.height,
                        base64=base64.b64encode(i.data).decode("ascii"),
                    )
                    for i in reply.images
                ],
            )
        ]

    # -- outbound ---------------------------------------------------------------------------

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        """Record the reply for waiting requests, then POST it to the callback URL, if any.

        Raises:
            PermanentDeliveryError: the source is no longer configured, or the endpoint is 410.
            RateLimitedError: the endpoint answered 429/502/504 (``Retry-After`` honoured).
            PlatformError: any other callback failure (retried on ``retry_schedule``).
        """
        reply = message.reply
        source = self._sources.get(reply.key.source)
        if source is None:
            raise PermanentDeliveryError(
                f"webhook source of {reply.key.channel!r} is not configured"
            )
        # The content was just validated by to_platform; the event adds our own routing
        # fields, so it is assembled without a second validation pass.
        event = ReplyEvent.model_construct(
            **dict(self.to_platform(reply)[0]),
            source=source.name,
            conversation_id=reply.key.chat_id,
            turn_id=message.turn_id,
            seq=message.seq,
            final=message.final,
        )
        self.book.record(message.outbox_id, event)
        if source.callback_url is None:
            return DeliveryReceipt((f"local:{message.outbox_id}",))
        webhook_id = f"msg_{message.outbox_id}"
        await self._callbacks.post(
            source.callback_url, source.signing_key, webhook_id, event.model_dump_json().encode()
        )
        return DeliveryReceipt((webhook_id,))

    async def open_stream(self, key: ConversationKey, reply_to: str | None) -> ReplyStream | None:
        """A live preview for an SSE request waiting on this turn, else None."""
        return self.book.stream_for(key, reply_to)

    # -- inbound ----------------------------------------------------------------------------

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(build_openapi())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            accepted, live = await self._ingest(request)
        except RequestRejected as exc:
            return error_response(exc.status, exc.detail)
        except InvalidImageField as exc:
            return kefu_error_response(exc.error, exc.language, exc.field)
        except KefuError as exc:
            return kefu_error_response(exc)
        if live is None:
            return json_response(accepted, 202)
        timeout_s = self.settings.wait_timeout_s
        try:
            if live.streaming:
                return await stream_replies(request, live, accepted, timeout_s)
            return await wait_for_replies(self.book, live, accepted, timeout_s)
        finally:
            self.book.release(live)

    def _source_of(self, request: web.Request) -> _Source:
        name = request.match_info["source"]
        source = self._sources.get(name)
        if source is None:
            raise RequestRejected(
                404, "unknown_source", f"no webhook source named {name!r}", "source"
            )
        return source

    async def _ingest(self, request: web.Request) -> tuple[AcceptedResponse, LiveRequest | None]:
        """Verify, validate, store; returns the 202 body and the live request, if any.

        Authentication comes first: an unsigned request learns nothing but 401 (or 404),
        and one without well-formed, fresh signature headers is refused before its body is
        read (a body is only read up to ``max_body_bytes``, declared or streamed).
        """
        source = self._source_of(request)
        source.verifier.precheck(request.headers)
        body = await read_capped_body(request, self.settings.max_body_bytes)
        headers = source.verifier.verify(request.headers, body)
        require_json(request)
        mode = _reply_mode(request)
        replayed = self._recent.get((source.name, headers.webhook_id))
        if replayed is not None:  # the original answer, without re-fetching its images
            accepted, key = replayed
            accepted = accepted.model_copy(update={"duplicate": True})
            return accepted, self._live(mode, key, headers.webhook_id, accepted.turn_id)
        message = parse_message(body, self.settings.max_text_chars, self.settings.max_images)
        images = await self._images.load(message)
        turn = self.to_turn(VerifiedRequest(source.name, headers, message, images))
        live = self._live(mode, turn.key, turn.message_id, None)
        try:
            result = await self.context.inbox.put(turn)
        except BaseException:
            if live is not None:
                self.book.release(live)
            raise
        accepted = AcceptedResponse(
            turn_id=result.turn_id, duplicate=result.duplicate, message_id=message.message_id
        )
        self._remember((source.name, headers.webhook_id), accepted, turn.key)
        if live is not None:
            self.book.attach(live, result.turn_id)
        return accepted, live

    def _live(
        self, mode: Mode, key: ConversationKey, message_id: str, turn_id: int | None
    ) -> LiveRequest | None:
        """A live request registered before the turn is stored, so no partial text is missed."""
        if mode == "ack":
            return None
        live = LiveRequest(key, message_id, streaming=mode == "stream")
        self.book.register(live)
        if turn_id is not None:
            self.book.attach(live, turn_id)
        return live

    def _remember(
        self, cache_key: tuple[str, str], accepted: AcceptedResponse, key: ConversationKey
    ) -> None:
        original = (
            accepted.model_copy(update={"duplicate": False}) if accepted.duplicate else accepted
        )
        self._recent[cache_key] = (original, key)
        while len(self._recent) > REPLAY_MEMORY:
            self._recent.popitem(last=False)
