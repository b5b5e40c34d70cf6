"""The echo adapter: messages arrive by HTTP POST; replies are kept in ``sent``."""

from __future__ import annotations

import hmac
from typing import ClassVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.model.turn import ConversationKey, Reply, Sender, TextPart, Turn
from core.ports import Adapter, AdapterContext, Capabilities, DeliveryReceipt, OutboundMessage
from tests.fourth_platform.settings import EchoSettings


class EchoMessage(BaseModel):
    chat: str
    user: str
    id: str
    text: str


class EchoAdapter(Adapter[EchoMessage, str]):
    name: ClassVar[str] = "echo"
    capabilities: ClassVar[Capabilities] = Capabilities(max_message_chars=500)

    def __init__(self, context: AdapterContext, settings: EchoSettings) -> None:
        super().__init__(context)
        self.settings = settings
        self.sent: list[tuple[str, str]] = []
        self.started = False
        if context.receive and context.web is not None:
            context.web.router.add_post(settings.path, self._on_message)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def _on_message(self, request: web.Request) -> web.Response:
        assert self.settings.token is not None
        given = request.headers.get("X-Echo-Token", "").encode()
        if not hmac.compare_digest(given, self.settings.token.get_secret_value().encode()):
            return web.json_response({"error": "authentication_failed"}, status=401)
        try:
            message = EchoMessage.model_validate_json(await request.read())
        except ValidationError as exc:
            return web.json_response({"error": "invalid_input", "detail": str(exc)}, status=400)
        result = await self.context.inbox.put(self.to_turn(message))
        return web.json_response({"turn_id": result.turn_id}, status=202)

    def to_turn(self, raw: EchoMessage) -> Turn:
        return Turn(ConversationKey(self.name, raw.chat), Sender(raw.user), raw.id,
                    (TextPart(raw.text),))  # fmt: skip

    def to_platform(self, reply: Reply) -> list[str]:
        text = reply.text
        limit = self.capabilities.max_message_chars
        return [text[i : i + limit] for i in range(0, len(text), limit)] or [""]

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        pieces = self.to_platform(message.reply)
        self.sent.extend((message.reply.key.chat_id, piece) for piece in pieces)
        return DeliveryReceipt(tuple(f"echo-{message.outbox_id}-{i}" for i in range(len(pieces))))
