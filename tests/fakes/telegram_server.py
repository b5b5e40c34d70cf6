"""A recording fake of the Telegram Bot API and its file host, on 127.0.0.1 port 0.

The real ``telegram.Bot`` is pointed at it (``base_url=server.base_url``,
``base_file_url=server.file_url``). It checks the token like Telegram does, records every
call (method, decoded params, uploaded files, arrival time, status), keeps the messages the
bot sent and their edits, and behaves like Telegram where kefu depends on it:

* ``getUpdates`` serves a queue of scripted updates, forgets everything below ``offset``
  (that is how Telegram confirms updates), long-polls briefly and answers 409 while a
  webhook is set;
* ``editMessageText`` answers "message is not modified" for identical text and markup,
  and "message to edit not found" for unknown messages; texts over 4096 UTF-16 units or
  blank texts are rejected;
* scripted failures: a 429 with ``parameters.retry_after`` (or any error) for the next K calls
  of a method; blocked chats (403) and missing chats (400 chat not found);
* drafts (``sendMessageDraft``), the stop button and business accounts, checked as Telegram
  checks them (see :mod:`tests.fakes.telegram_features`).

:class:`UpdateFactory` builds real-shaped update JSON: text, commands, photos with sizes,
albums, image documents, edits, stickers, voice, video, group mentions, replies to the bot
and button presses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_features import DraftFeatures, FakeError

# Parameters PTB sends as plain strings (everything else arrives JSON-encoded).
STRING_PARAMS = frozenset(
    {"text", "caption", "secret_token", "url", "callback_query_id", "file_id", "action",
     "parse_mode", "media_group_id", "business_connection_id"}
)  # fmt: skip
MAX_TEXT_UNITS = 4096


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One recorded Bot API call."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when it arrived
    status: int
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent, with its current text and every edit."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: Any = None
    thread_id: int | None = None
    reply_to: int | None = None
    photo: bytes | None = None
    edits: list[str] = field(default_factory=list)
    business_connection_id: str | None = None


@dataclass(slots=True)
class _Failure:
    remaining: int
    status: int
    description: str
    parameters: dict[str, Any] | None
    skip: int = 0  # calls that still succeed before the failures start


class FakeTelegramServer(DraftFeatures):
    """The fake Bot API. Use as ``async with FakeTelegramServer() as tg: ...``.

    Args:
        token: The only token accepted (others get 401 Unauthorized).
        bot_id: The bot's user id (``getMe``).
        bot_username: The bot's username (``getMe``), for mentions.
        max_long_poll_s: Cap on how long ``getUpdates`` waits for new updates.
    """

    def __init__(
        self,
        token: str = "123456:TEST-fake-token",
        bot_id: int = 777000111,
        bot_username: str = "kefu_test_bot",
        max_long_poll_s: float = 0.5,
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": bot_id, "is_bot": True, "first_name": "Kefu", "username": bot_username,
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }  # fmt: skip
        self.max_long_poll_s = max_long_poll_s
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[int, int], SentMessage] = {}
        self.files: dict[str, tuple[bytes, int]] = {}
        self.downloads: list[str] = []
        self.webhook: dict[str, Any] | None = None
        self.blocked_chats: set[int] = set()
        self.missing_chats: set[int] = set()
        self.updates = UpdateFactory(self.bot_user)
        self._queue: list[dict[str, Any]] = []
        self._new_updates = asyncio.Event()
        self._failures: dict[str, _Failure] = {}
        self._message_ids = itertools.count(5001)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.init_features()

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegramServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- scripting -----------------------------------------------------------------------

    def enqueue(self, *updates: dict[str, Any]) -> None:
        """Queue updates for ``getUpdates``."""
        self._queue.extend(updates)
        self._new_updates.set()

    def add_file(self, file_id: str, data: bytes, announced_size: int | None = None) -> None:
        """Host ``data`` for ``getFile(file_id)``; ``announced_size`` overrides ``file_size``."""
        self.files[file_id] = (data, len(data) if announced_size is None else announced_size)

    def fail_next(self, method: str, count: int = 1, retry_after: int = 1, after: int = 0) -> None:
        """Answer ``count`` calls of ``method`` with 429 and ``retry_after``.

        The first ``after`` calls still succeed (e.g. the second part of a split reply).
        """
        self._failures[method] = _Failure(
            count, 429, f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after}, after,
        )  # fmt: skip

    def fail_with(
        self, method: str, status: int, description: str, count: int = 1, after: int = 0
    ) -> None:
        """Answer ``count`` calls of ``method`` (after ``after`` successes) with an error."""
        self._failures[method] = _Failure(count, status, description, None, after)

    # -- inspection ----------------------------------------------------------------------

    def calls_of(self, method: str, ok_only: bool = False) -> list[ApiCall]:
        """Calls of ``method`` in arrival order (a long poll is recorded when it returns)."""
        found = [c for c in self.calls if c.method == method and (not ok_only or c.status == 200)]
        return sorted(found, key=lambda call: call.at)

    def chat_messages(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to ``chat_id``, oldest first."""
        found = [m for (chat, _), m in self.messages.items() if chat == chat_id]
        return sorted(found, key=lambda m: m.message_id)

    def chat_texts(self, chat_id: int) -> list[str]:
        """Current texts (after edits) of the bot's messages in ``chat_id``."""
        return [m.text for m in self.chat_messages(chat_id)]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an ``offset``."""
        return list(self._queue)

    # -- HTTP ----------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            return dict(await request.json()), files
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = value.file.read()
            elif name in STRING_PARAMS:
                params[name] = value
            else:
                try:
                    params[name] = json.loads(value)
                except ValueError:
                    params[name] = value
        return params, files

    async def _api(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        method = request.match_info["method"]
        params, files = await self._params(request)
        if request.match_info["token"] != self.token:
            return self._record(method, params, files, 401, "Unauthorized", arrived=arrived)
        failure = self._failures.get(method)
        if failure is not None and failure.skip > 0:
            failure.skip -= 1
        elif failure is not None and failure.remaining > 0:
            failure.remaining -= 1
            return self._record(method, params, files, failure.status, failure.description,
                                failure.parameters, arrived)  # fmt: skip
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._record(method, params, files, 404, "Not Found", arrived=arrived)
        if method == "getUpdates":
            result = await self._m_getUpdates(params)
        else:
            result = handler(params, files)
        if isinstance(result, _Error | FakeError):
            return self._record(
                method, params, files, result.status, result.description, arrived=arrived
            )
        self.calls.append(ApiCall(method, params, arrived, 200, files))
        return web.json_response({"ok": True, "result": result})

    def _record(self, method: str, params: dict[str, Any], files: dict[str, bytes], status: int,
                description: str, parameters: dict[str, Any] | None = None,
                arrived: float | None = None) -> web.Response:  # fmt: skip
        at = time.monotonic() if arrived is None else arrived
        self.calls.append(ApiCall(method, params, at, status, files))
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        self.downloads.append(path)
        file_id = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if file_id not in self.files:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.files[file_id][0], content_type="application/octet-stream")

    # -- methods -------------------------------------------------------------------------

    def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self.bot_user

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            return _Error(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")  # fmt: skip
        offset = params.get("offset")
        if offset is not None:  # confirms (deletes) every update below the offset
            self._queue = [u for u in self._queue if u["update_id"] >= int(offset)]
        limit = int(params.get("limit") or 100)
        if not self._queue:
            self._new_updates.clear()
            wait = min(float(params.get("timeout") or 0), self.max_long_poll_s)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_updates.wait(), wait)
        return self._queue[:limit]

    def _m_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.webhook = dict(params)
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _m_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            return _Error(400, "Bad Request: invalid file_id")
        _, size = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size,
                "file_path": f"photos/{file_id}.jpg"}  # fmt: skip

    def _chat_error(self, chat_id: int) -> _Error | None:
        if chat_id in self.blocked_chats:
            return _Error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.missing_chats:
            return _Error(400, "Bad Request: chat not found")
        return None

    def _new_message(self, params: dict[str, Any], text: str, photo: bytes | None = None) -> Any:
        chat_id = int(params["chat_id"])
        reply = params.get("reply_parameters") or {}
        message = SentMessage(
            chat_id, next(self._message_ids), text, params.get("reply_markup"),
            params.get("message_thread_id"), reply.get("message_id"), photo,
            business_connection_id=params.get("business_connection_id"),
        )  # fmt: skip
        self.messages[(chat_id, message.message_id)] = message
        if not message.business_connection_id:
            self.finalize_drafts(chat_id, message.thread_id, message.message_id)
        return self._message_json(message)

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        chat_type = "private" if message.chat_id > 0 else "supergroup"
        body: dict[str, Any] = {
            "message_id": message.message_id, "date": int(time.time()), "from": self.bot_user,
            "chat": {"id": message.chat_id, "type": chat_type},
        }  # fmt: skip
        if message.photo is not None:
            body["photo"] = [{"file_id": f"sent-{message.message_id}", "file_unique_id":
                              f"su-{message.message_id}", "width": 1, "height": 1}]  # fmt: skip
            if message.text:
                body["caption"] = message.text
        else:
            body["text"] = message.text
        if message.reply_markup:
            body["reply_markup"] = message.reply_markup
        body.update(
            self.business_fields({"business_connection_id": message.business_connection_id})
        )
        return body

    def _check_text(self, text: str) -> _Error | None:
        if not text.strip():
            return _Error(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT_UNITS:
            return _Error(400, "Bad Request: message is too long")
        return None

    def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        text = str(params.get("text", ""))
        error = self.business_error(params) or self._chat_error(int(params["chat_id"]))
        error = error or self._check_text(text)
        return error or self._new_message(params, text)

    def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        error = self.business_error(params) or self._chat_error(int(params["chat_id"]))
        if error is None and "photo" not in files:
            error = _Error(400, "Bad Request: there is no photo in the request")
        return error or self._new_message(params, str(params.get("caption", "")), files["photo"])

    def _m_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id, text = int(params["chat_id"]), str(params.get("text", ""))
        error = self.business_error(params) or self._chat_error(chat_id) or self._check_text(text)
        if error is not None:
            return error
        message = self.messages.get((chat_id, int(params["message_id"])))
        if message is None:
            return _Error(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if message.text == text and message.reply_markup == markup:
            return _Error(400, "Bad Request: message is not modified: specified new message "
                               "content and reply markup are exactly the same")  # fmt: skip
        message.text, message.reply_markup = text, markup
        message.edits.append(text)
        return self._message_json(message)

    def _m_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self.business_error(params) or self._chat_error(int(params["chat_id"])) or True

    def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True


@dataclass(frozen=True, slots=True)
class _Error:
    status: int
    description: str


class UpdateFactory:
    """Builds real-shaped Bot API update JSON with increasing update and message ids."""

    def __init__(self, bot_user: dict[str, Any]) -> None:
        self.bot_user = bot_user
        self._update_ids = itertools.count(10_001)
        self._message_ids = itertools.count(101)
        self._callback_ids = itertools.count(1)

    @staticmethod
    def user(
        user_id: int = 42, first_name: str = "Ada", language_code: str = "en"
    ) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "last_name": "Lovelace",
                "language_code": language_code}  # fmt: skip

    @staticmethod
    def chat(chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Ada"}
        return {"id": chat_id, "type": "supergroup", "title": "Shop fans"}

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def message(self, chat_id: int = 42, user: dict[str, Any] | None = None,
                message_id: int | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        """A bare message object (not an update)."""
        body: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self._message_ids),
            "date": int(time.time()), "chat": self.chat(chat_id),
            "from": user or self.user(chat_id if chat_id > 0 else 42),
        }  # fmt: skip
        body.update(fields)
        return body

    def wrap(self, message: dict[str, Any], kind: str = "message") -> dict[str, Any]:
        return {"update_id": self.next_update_id(), kind: message}

    def text(self, text: str, chat_id: int = 42, **fields: Any) -> dict[str, Any]:
        return self.wrap(self.message(chat_id, text=text, **fields))

    def command(self, command: str, chat_id: int = 42, **fields: Any) -> dict[str, Any]:
        """``command`` like ``"/start"`` or ``"/start@kefu_test_bot payload"``."""
        length = utf16_len(command.split()[0])
        entity = {"type": "bot_command", "offset": 0, "length": length}
        return self.text(command, chat_id, entities=[entity], **fields)

    @staticmethod
    def photo_sizes(file_id: str, width: int = 1280, height: int = 960,
                    file_size: int = 50_000) -> list[dict[str, Any]]:  # fmt: skip
        """Thumbnail, medium and full size, ascending as Telegram sends them."""
        return [
            {"file_id": f"{file_id}-s", "file_unique_id": f"{file_id}-us", "width": 90,
             "height": 68, "file_size": 1_200},
            {"file_id": f"{file_id}-m", "file_unique_id": f"{file_id}-um", "width": 320,
             "height": 240, "file_size": 9_000},
            {"file_id": file_id, "file_unique_id": f"{file_id}-u", "width": width,
             "height": height, "file_size": file_size},
        ]  # fmt: skip

    def photo(self, file_id: str, caption: str = "", chat_id: int = 42,
              media_group_id: str | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {"photo": self.photo_sizes(file_id)}
        if caption:
            body["caption"] = caption
        if media_group_id:
            body["media_group_id"] = media_group_id
        body.update(fields)
        return self.wrap(self.message(chat_id, **body))

    def album(self, file_ids: list[str], caption: str = "", chat_id: int = 42,
              media_group_id: str = "13579", **fields: Any) -> list[dict[str, Any]]:  # fmt: skip
        """One update per photo; the caption sits on the first item, as in Telegram."""
        return [
            self.photo(fid, caption if i == 0 else "", chat_id, media_group_id, **fields)
            for i, fid in enumerate(file_ids)
        ]

    def document(self, file_id: str, mime_type: str, caption: str = "", chat_id: int = 42,
                 file_size: int = 40_000) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {"document": {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                                             "file_name": "file", "mime_type": mime_type,
                                             "file_size": file_size}}  # fmt: skip
        if caption:
            body["caption"] = caption
        return self.wrap(self.message(chat_id, **body))

    def edited(
        self, text: str, message_id: int, chat_id: int = 42, edit_date: int | None = None
    ) -> dict[str, Any]:
        message = self.message(chat_id, message_id=message_id, text=text,
                               edit_date=edit_date or int(time.time()))  # fmt: skip
        return self.wrap(message, "edited_message")

    def sticker(self, chat_id: int = 42, **fields: Any) -> dict[str, Any]:
        sticker = {"file_id": "stk", "file_unique_id": "ustk", "type": "regular", "width": 512,
                   "height": 512, "is_animated": False, "is_video": False, "emoji": "😀"}  # fmt: skip
        return self.wrap(self.message(chat_id, sticker=sticker, **fields))

    def voice(self, chat_id: int = 42, **fields: Any) -> dict[str, Any]:
        voice = {
            "file_id": "voi",
            "file_unique_id": "uvoi",
            "duration": 3,
            "mime_type": "audio/ogg",
        }
        return self.wrap(self.message(chat_id, voice=voice, **fields))

    def video(self, chat_id: int = 42, caption: str = "", **fields: Any) -> dict[str, Any]:
        video = {
            "file_id": "vid",
            "file_unique_id": "uvid",
            "width": 640,
            "height": 480,
            "duration": 5,
        }
        if caption:
            fields["caption"] = caption
        return self.wrap(self.message(chat_id, video=video, **fields))

    def group_text(self, text: str, chat_id: int = -100123, mention: bool = False,
                   user: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        """A group message; with ``mention`` it starts with ``@<bot>`` and a mention entity."""
        if mention:
            handle = f"@{self.bot_user['username']}"
            text = f"{handle} {text}"
            fields["entities"] = [{"type": "mention", "offset": 0, "length": utf16_len(handle)}]
        return self.wrap(self.message(chat_id, user or self.user(42), text=text, **fields))

    def reply_to_bot(
        self, text: str, bot_message_id: int, chat_id: int = -100123
    ) -> dict[str, Any]:
        original = {"message_id": bot_message_id, "date": int(time.time()),
                    "chat": self.chat(chat_id), "from": self.bot_user, "text": "earlier answer"}  # fmt: skip
        return self.text(text, chat_id, user=self.user(42), reply_to_message=original)

    def business_message(
        self, text: str, connection_id: str, chat_id: int = 42,
        user: dict[str, Any] | None = None, edited: bool = False, **fields: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """A message in a business account's chat (a customer's, or the owner's with ``user``)."""
        message = self.message(chat_id, user, text=text, business_connection_id=connection_id,
                               **fields)  # fmt: skip
        if edited:
            message["edit_date"] = int(time.time())
        return self.wrap(message, "edited_business_message" if edited else "business_message")

    def callback(self, data: str = "human", chat_id: int = 42, message_id: int = 5001,
                 user: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        message = {"message_id": message_id, "date": int(time.time()), "chat": self.chat(chat_id),
                   "from": self.bot_user, "text": "an answer"}  # fmt: skip
        query = {"id": f"cbq-{next(self._callback_ids)}", "from": user or self.user(42),
                 "chat_instance": "ci-1", "message": message, "data": data}  # fmt: skip
        return {"update_id": self.next_update_id(), "callback_query": query}


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One POST made by :func:`deliver_like_telegram`."""

    update_id: int
    status: int
    sent_at: float
    answered_at: float


def _webhook_queue(update: dict[str, Any]) -> object:
    for kind in ("message", "edited_message"):
        if kind in update:
            return ("chat", update[kind]["chat"]["id"])
    if "callback_query" in update:
        return ("user", update["callback_query"]["from"]["id"])
    return ("update", update["update_id"])


async def deliver_like_telegram(
    session: Any, url: str, secret: str, updates: list[dict[str, Any]],
    retry_delay_s: float = 0.1, max_attempts: int = 20,
) -> list[WebhookAttempt]:  # fmt: skip
    """POST updates the way Telegram's webhook sender does.

    Like ``WebhookActor`` in tdlib/telegram-bot-api: one queue per chat, a chat's next update
    is sent only after the previous one was answered 2xx, a failed one is retried (and keeps
    blocking its chat), and different chats are delivered in parallel.
    """
    queues: dict[object, list[dict[str, Any]]] = {}
    for update in updates:
        queues.setdefault(_webhook_queue(update), []).append(update)
    attempts: list[WebhookAttempt] = []

    async def run(queue: list[dict[str, Any]]) -> None:
        for update in queue:
            for _ in range(max_attempts):
                sent = time.monotonic()
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
                async with session.post(url, json=update, headers=headers) as response:
                    await response.read()
                    status = response.status
                attempts.append(WebhookAttempt(update["update_id"], status, sent, time.monotonic()))
                if 200 <= status < 300:
                    break
                await asyncio.sleep(retry_delay_s)

    await asyncio.gather(*(run(queue) for queue in queues.values()))
    return attempts
