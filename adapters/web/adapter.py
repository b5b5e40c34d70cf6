"""The web chat: kefu's own page at ``/``, a platform like any other.

A visitor's browser holds a random session cookie; its hash is the conversation's chat id
(``web|<id>|``), so the id shown to operators is not the visitor's credential. Messages
go into the durable inbox like every platform's; answers come back through the outbox to
:meth:`WebAdapter.deliver`, which pushes them to the page over Server-Sent Events. The same
adapter carries the operator desk's live events (``adapters/web/desk.py``): handoff
threads are the conversations ``web|ops|<handoff id>``, as Slack's are threads.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web

from adapters.web.hub import EventHub, EventKind, stream
from adapters.web.messages import WebMessage, normalise_photos, read_upload
from adapters.web.settings import WebSettings
from core.errors import InvalidInputError, KefuError, StoreError
from core.model.turn import ConversationKey, Part, Reply, Role, Sender, TextPart, Turn
from core.ports import (
    Adapter,
    AdapterContext,
    Capabilities,
    DeliveryReceipt,
    OutboundMessage,
    StreamRequest,
)
from core.texts import Language, text

STATIC_DIR = Path(__file__).with_name("static")
SESSION_COOKIE = "kefu_chat"
OPS_CHAT = "ops"  # chat id of the operator desk's handoff threads (web|ops|<handoff id>)
DESK_CHANNEL = "desk"  # the hub channel every operator page listens to
DRAFT_EVERY_S = 0.05


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One reply as the page shows it."""

    text: str
    kind: str
    reply_to: str | None = None
    stream_ref: str | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # data: URLs


def page_language(request: web.Request) -> Language:
    """The browser's language for error texts (Chinese or English)."""
    return "zh" if request.headers.get("Accept-Language", "").lower().startswith("zh") else "en"


def chat_id_of(session: str) -> str:
    """The conversation id of a browser session (a hash: the session itself stays secret)."""
    return hashlib.sha256(session.encode()).hexdigest()[:24]


class _DraftStream:
    """The live preview on the page: "thinking", then the text as it is written."""

    def __init__(self, hub: EventHub, chat: str, preview: bool) -> None:
        self._hub, self._chat, self._preview = hub, chat, preview
        self.ref: str | None = "d-" + secrets.token_hex(6)
        self._sent_at = 0.0
        hub.publish(chat, EventKind.DRAFT, {"ref": self.ref, "text": ""}, keep=False)

    async def update(self, text_so_far: str) -> None:
        now = time.monotonic()
        if not self._preview or now - self._sent_at < DRAFT_EVERY_S:
            return
        self._sent_at = now
        self._hub.publish(
            self._chat, EventKind.DRAFT, {"ref": self.ref, "text": text_so_far}, keep=False
        )

    async def close(self) -> None:
        self._hub.publish(self._chat, EventKind.DRAFT_END, {"ref": self.ref}, keep=False)


class WebAdapter(Adapter[WebMessage, OutgoingMessage]):
    """Serves the chat page and its API, and delivers answers to open pages.

    Args:
        context: Adapter context; ``context.conversations`` tells the page who answers.
        settings: The ``web`` section.
    """

    name: ClassVar[str] = "web"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, images=True, buttons=True, max_message_chars=100_000
    )

    def __init__(self, context: AdapterContext, settings: WebSettings | None = None) -> None:
        super().__init__(context)
        self.settings = settings or WebSettings()
        self.chats = EventHub(self.settings.kept_events)
        self.desk_events = EventHub(self.settings.kept_events)
        self._photo_slots = asyncio.Semaphore(2)
        self._running = False
        if context.web is not None and context.receive:
            context.web.router.add_get("/", self._page)
            context.web.router.add_static("/static/kefu/", STATIC_DIR, append_version=True)
            context.web.router.add_get("/web/api/session", self._session)
            context.web.router.add_post("/web/api/messages", self._message)
            context.web.router.add_get("/web/api/events", self._events)

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False
        self.chats.close()
        self.desk_events.close()

    # -- inbound ---------------------------------------------------------------------------

    def to_turn(self, raw: WebMessage) -> Turn:
        parts: list[Part] = list(raw.images)
        if raw.text:
            parts.append(TextPart(raw.text))
        key = ConversationKey(self.name, raw.chat_id)
        sender = Sender(f"web:{raw.chat_id[:12]}", "Web visitor", Role.CUSTOMER)
        return Turn(
            key, sender, f"{raw.chat_id}:{raw.client_id}", tuple(parts),
            command=raw.command, command_arg=raw.command_arg,
        )  # fmt: skip

    def _ready(self) -> None:
        if not self._running:
            raise web.HTTPServiceUnavailable(
                text='{"error": "kefu is starting"}', content_type="application/json"
            )

    def _chat(self, request: web.Request) -> str:
        session = request.cookies.get(SESSION_COOKIE, "")
        if len(session) < 20:
            raise web.HTTPUnauthorized(
                text='{"error": "no chat session: load the page first"}',
                content_type="application/json",
            )
        return chat_id_of(session)

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "chat.html", headers={"Cache-Control": "no-cache"})

    async def _session(self, request: web.Request) -> web.Response:
        """The visitor's session (created on first visit) and who answers them now."""
        self._ready()
        session = request.cookies.get(SESSION_COOKIE, "")
        fresh = len(session) < 20
        if fresh:
            session = secrets.token_urlsafe(24)
        chat = chat_id_of(session)
        body = {
            "chat": chat,
            "state": await self._state(ConversationKey(self.name, chat)),
            "max_images": self.settings.max_images,
            "max_bytes": self.context.image_limits.max_bytes,
        }
        response = web.json_response(body)
        if fresh:
            response.set_cookie(
                SESSION_COOKIE, session, max_age=180 * 24 * 3600, httponly=True, samesite="Lax"
            )
        return response

    async def _message(self, request: web.Request) -> web.Response:
        self._ready()
        chat = self._chat(request)
        try:
            limits = self.context.image_limits
            raw = await read_upload(request, self.settings.max_images, limits.max_bytes)
            images = await normalise_photos(raw.photos, limits, self._photo_slots)
        except InvalidInputError as exc:
            language = page_language(request)
            return web.json_response(
                {"error": str(exc), "message": text(exc.user_message_key, language)}, status=400
            )
        message = WebMessage(chat, raw.client_id, raw.text, images, raw.command, raw.command_arg)
        try:
            result = await self.context.inbox.put(self.to_turn(message))
        except StoreError:
            return web.json_response({"error": "not stored, send it again"}, status=503)
        return web.json_response(
            {"turn": result.turn_id, "duplicate": result.duplicate}, status=202
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self._ready()
        return await stream(request, self.chats, self._chat(request))

    async def _state(self, key: ConversationKey) -> str:
        if self.context.conversations is None:
            return "bot"
        try:
            return str((await self.context.conversations.conversation(key)).state)
        except KefuError:
            return "bot"

    # -- outbound --------------------------------------------------------------------------

    def to_platform(self, reply: Reply) -> list[OutgoingMessage]:
        images = [
            f"data:{i.mime};base64,{base64.b64encode(i.data).decode('ascii')}" for i in reply.images
        ]
        buttons = [{"label": b.label, "command": b.token} for b in reply.buttons]
        return [OutgoingMessage(reply.text, str(reply.kind), reply.reply_to, None, buttons, images)]

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        """Push a reply to the chat's pages (or a staff notice to the operator desk)."""
        reply = message.reply
        if reply.key.chat_id == OPS_CHAT:
            event = self.desk_events.publish(
                DESK_CHANNEL, EventKind.DESK,
                {"event": "notice", "handoff": reply.key.thread_id, "text": reply.text},
            )  # fmt: skip
            return DeliveryReceipt((f"web-{event.id}",))
        ids = []
        for outgoing in self.to_platform(reply):
            payload: dict[str, Any] = asdict(outgoing) | {"stream_ref": message.stream_ref}
            ids.append(
                f"web-{self.chats.publish(reply.key.chat_id, EventKind.MESSAGE, payload).id}"
            )
        state = await self._state(reply.key)
        self.chats.publish(reply.key.chat_id, EventKind.STATE, {"state": state})
        return DeliveryReceipt(tuple(ids))

    async def open_reply_stream(self, request: StreamRequest) -> _DraftStream | None:
        if request.key.chat_id == OPS_CHAT:
            return None
        return _DraftStream(self.chats, request.key.chat_id, request.preview)
