"""``GET /v1/conversations/{key}/export``: a conversation as JSON over HTTP.

The same document as ``main.py export`` (:func:`core.store.export.export_conversation`): turns,
decisions (handoff, relay, take, resolve, return, timeouts with their reasons), handoffs
and replies. Conversations are personal data, so the route needs the operator token
(``Authorization: Bearer <KEFU_SERVICE__OPERATOR_TOKEN>``; the inference key does not
open it) and is refused outright when none is configured. ``key`` is ``platform|chat_id|thread_id``, URL-encoded
(``telegram%7C42%7C``); the thread part may be left out.
"""

from __future__ import annotations

import json
from functools import partial

from aiohttp import web

from core.api.access import AccessOptions, Scope, check_access
from core.api.protocol import error_body
from core.errors import NotFoundError
from core.model.turn import ConversationKey
from core.store.export import export_conversation
from core.store.store import Store

MAX_KEY_CHARS = 600


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response(error_body(message, "invalid_request_error", code), status=status)


def parse_key(raw: str) -> ConversationKey:
    """``"telegram|42|"`` or ``"telegram|42"`` → a key.

    Raises:
        ValueError: no platform or chat id, or absurdly long.
    """
    platform, _, rest = raw.partition("|")
    chat_id, _, thread_id = rest.partition("|")
    if not platform or not chat_id or len(raw) > MAX_KEY_CHARS:
        raise ValueError("key must be platform|chat_id|thread_id")
    return ConversationKey.from_channel(platform, chat_id, thread_id)


class ExportRoute:
    """The handler, bound to a store and the service's credentials (operator scope)."""

    def __init__(self, store: Store, access: AccessOptions) -> None:
        self.store = store
        self.access = access

    async def handle(self, request: web.Request) -> web.Response:
        if (denied := check_access(request, Scope.OPERATOR, self.access)) is not None:
            return denied
        try:
            key = parse_key(request.match_info["key"])
        except ValueError as exc:
            return _error(400, str(exc), "invalid_conversation_key")
        try:
            document = await export_conversation(self.store, key)
        except NotFoundError as exc:
            return _error(404, str(exc), "not_found")
        dumps = partial(json.dumps, ensure_ascii=False, default=str)
        return web.json_response(document, dumps=dumps)
