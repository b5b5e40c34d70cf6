"""A recording fake of the Slack Web API, file hosting and Socket Mode, on 127.0.0.1 port 0.

The real ``slack_sdk.AsyncWebClient`` (and bolt's Socket Mode client) are pointed at it
through ``base_url``. It records every call, checks the Bearer token like Slack does, and
can be scripted: 429 with ``Retry-After`` for the next K calls of a method, a fixed error,
an HTML login page instead of a file, slow file downloads. Native streaming, the thread
status and suggested prompts are in :mod:`tests.fakes.slack_streams`.

:class:`SlackEventSender` posts real-shaped, correctly signed Events API and interactivity
payloads (``v0:{ts}:{body}``, as ``slack_sdk.signature.SignatureVerifier`` checks them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.fakes.slack_streams import StreamFeatures

LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One recorded Web API call."""

    method: str
    params: dict[str, Any]
    token: str
    at: float  # time.monotonic() when it arrived
    status: int
    error: str = ""  # the Web API error of an ``ok: false`` answer


@dataclass(slots=True)
class HostedFile:
    file_id: str
    name: str
    mimetype: str
    data: bytes


@dataclass(slots=True)
class PostedMessage:
    channel: str
    ts: str
    text: str
    thread_ts: str | None
    blocks: list[Any] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)


class FakeSlack(StreamFeatures):
    """The fake server. Use ``async with FakeSlack() as slack:``.

    Args:
        bot_token / app_token: Tokens accepted for Web API and ``apps.connections.open``.
        bot_user_id / bot_id / team_id: What ``auth.test`` reports.
    """

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        bot_user_id: str = "UKEFUBOT",
        bot_id: str = "BKEFU",
        team_id: str = "T0001",
    ) -> None:
        self.bot_token, self.app_token = bot_token, app_token
        self.bot_user_id, self.bot_id, self.team_id = bot_user_id, bot_id, team_id
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[str, str], PostedMessage] = {}
        self.files: dict[str, HostedFile] = {}
        self.uploads: dict[str, bytes] = {}
        self.completed_uploads: list[dict[str, Any]] = []
        self.file_requests: list[dict[str, str]] = []
        self.serve_login_page = False  # answer file downloads with an HTML login page (200)
        self.file_delay_s = 0.0
        self.file_status: int | None = None  # answer file downloads with this status (503 ...)
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self._rate_limits: dict[str, list[float]] = {}
        self._rate_limit_after: dict[str, int] = {}
        self._errors: dict[str, list[str]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_connected = asyncio.Event()
        self._ack_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.init_streams()

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeSlack:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files/{file_id}/{name}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Pass as ``SlackSettings.base_url``."""
        return f"{self.url}/api/"

    # ------------------------------------------------------------ scripting

    def rate_limit(
        self, method: str, times: int = 1, retry_after: float = 1, after: int = 0
    ) -> None:
        """Answer ``times`` calls of ``method`` with 429 and ``Retry-After``, once ``after``
        more calls of it have succeeded."""
        self._rate_limits.setdefault(method, []).extend([retry_after] * times)
        self._rate_limit_after[method] = after

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        self._errors.setdefault(method, []).extend([error] * times)

    def add_file(
        self, data: bytes, name: str = "photo.png", mimetype: str = "image/png"
    ) -> dict[str, Any]:
        """Host a private file; returns the ``files[]`` entry of a message event."""
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = HostedFile(file_id, name, mimetype, data)
        url = f"{self.url}/files/{file_id}/{name}"
        return {
            "id": file_id, "name": name, "title": name, "mimetype": mimetype,
            "filetype": name.rpartition(".")[2], "size": len(data), "mode": "hosted",
            "url_private": url, "url_private_download": url,
        }  # fmt: skip

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[ApiCall]:
        ok = lambda c: c.status == 200 and not c.error  # noqa: E731
        return [c for c in self.calls if c.method == method and (not ok_only or ok(c))]

    def thread(self, channel: str, thread_ts: str) -> list[PostedMessage]:
        """Messages the bot posted into one thread, oldest first."""
        return [
            m for m in self.messages.values() if m.channel == channel and m.thread_ts == thread_ts
        ]

    # ------------------------------------------------------------ Web API

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        return params

    def _answer(
        self,
        method: str,
        params: dict[str, Any],
        token: str,
        status: int,
        body: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        error = str(body.get("error") or "") if not body.get("ok") else ""
        self.calls.append(ApiCall(method, params, token, time.monotonic(), status, error))
        return web.json_response(body, status=status, headers=headers)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return self._answer(method, params, token, 200, {"ok": False, "error": "invalid_auth"})
        if self._rate_limit_after.get(method):
            self._rate_limit_after[method] -= 1
        elif self._rate_limits.get(method):
            retry_after = self._rate_limits[method].pop(0)
            headers = {"Retry-After": str(retry_after)}
            return self._answer(
                method, params, token, 429, {"ok": False, "error": "ratelimited"}, headers
            )
        if self._errors.get(method):
            error = self._errors[method].pop(0)
            return self._answer(method, params, token, 200, {"ok": False, "error": error})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._answer(
                method, params, token, 200, {"ok": False, "error": "unknown_method"}
            )
        body = handler(params)
        return self._answer(method, params, token, 200, body)

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True, "url": "https://kefu-test.slack.com/", "team": "kefu", "user": "kefu",
            "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
        }  # fmt: skip

    def _new_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, text = str(params.get("channel", "")), str(params.get("text") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if len(text) > 40_000:
            return {"ok": False, "error": "msg_too_long"}
        ts = self._new_ts()
        thread_ts = params.get("thread_ts") or None
        self.messages[(channel, ts)] = self._posted(channel, ts, text, thread_ts, list(blocks))
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}

    def _posted(
        self,
        channel: str,
        ts: str,
        text: str,
        thread_ts: str | None,
        blocks: list[Any] | None = None,
    ) -> PostedMessage:
        return PostedMessage(channel, ts, text, thread_ts, blocks or [])

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        message = self.messages.get((channel, ts))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        blocks = params.get("blocks") or []
        message.text = str(params.get("text") or "")
        message.blocks = json.loads(blocks) if isinstance(blocks, str) else list(blocks)
        message.edits.append(message.text)
        return {"ok": True, "channel": channel, "ts": ts, "text": message.text}

    def _m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel", "")), str(params.get("ts", "")))
        if self.messages.pop(key, None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        missing = [f["id"] for f in files if f["id"] not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        self.completed_uploads.append(dict(params, files=files))
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/ws"}

    # ------------------------------------------------------------ files

    async def _download(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        auth = request.headers.get("Authorization", "")
        self.file_requests.append({"file_id": request.match_info["file_id"], "authorization": auth})
        if self.file_delay_s:
            await asyncio.sleep(self.file_delay_s)
        if self.file_status is not None:
            return web.Response(status=self.file_status, text="try again later")
        if self.serve_login_page or auth != f"Bearer {self.bot_token}":
            # What Slack does for a missing/invalid token: a 200 HTML sign-in page.
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        if file is None:
            return web.Response(status=404, text="file not found")
        return web.Response(body=file.data, content_type=file.mimetype)

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - 200")

    # ------------------------------------------------------------ Socket Mode

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        self._socket_connected.set()
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}
        )
        async for frame in socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            ack = json.loads(frame.data)
            envelope_id = ack.get("envelope_id", "")
            self.socket_acks[envelope_id] = ack
            waiter = self._ack_waiters.pop(envelope_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(ack)
        self._sockets.remove(socket)
        if not self._sockets:
            self._socket_connected.clear()
        return socket

    async def wait_for_socket(self, wait_s: float = 5.0) -> None:
        """Wait until a Socket Mode client is connected."""
        async with asyncio.timeout(wait_s):
            await self._socket_connected.wait()

    async def send_envelope(
        self, payload: dict[str, Any], kind: str = "events_api", wait_s: float = 5.0
    ) -> dict[str, Any]:
        """Push an envelope over the socket and return the client's ack (TimeoutError if none)."""
        await self.wait_for_socket(wait_s)
        envelope_id = f"env-{next(self._ids)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._ack_waiters[envelope_id] = waiter
        envelope = {
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": "",
        }  # fmt: skip
        await self._sockets[-1].send_json(envelope)
        async with asyncio.timeout(wait_s):
            return await waiter


# ---------------------------------------------------------------- signed inbound payloads


def sign(secret: str, timestamp: str, body: str) -> str:
    """Slack's request signature: ``v0=`` + HMAC-SHA256 of ``v0:{ts}:{body}``."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return "v0=" + digest.hexdigest()


_event_ids = itertools.count(1)


def event_callback(
    event: dict[str, Any], team_id: str = "T0001", event_id: str | None = None
) -> dict[str, Any]:
    """Wrap an event the way the Events API delivers it."""
    return {
        "token": "legacy-verification-token", "team_id": team_id, "api_app_id": "A1",
        "event": event, "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}", "event_time": int(time.time()),
        "authorizations": [{"team_id": team_id, "user_id": "UKEFUBOT", "is_bot": True}],
    }  # fmt: skip


def message_event(
    channel: str, user: str, text: str, ts: str, *, channel_type: str = "im",
    thread_ts: str | None = None, files: list[dict[str, Any]] | None = None,
    subtype: str | None = None, bot_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A ``message`` event (``message.im`` / ``message.channels`` shape)."""
    event: dict[str, Any] = {
        "type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
        "event_ts": ts, "channel_type": channel_type, "team": "T0001",
    }  # fmt: skip
    for key, value in (
        ("thread_ts", thread_ts),
        ("files", files),
        ("subtype", subtype),
        ("bot_id", bot_id),
    ):
        if value is not None:
            event[key] = value
    return event


def mention_event(
    channel: str, user: str, text: str, ts: str, thread_ts: str | None = None
) -> dict[str, Any]:
    """An ``app_mention`` event."""
    event = {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def block_actions(
    channel: str, user: str, action_id: str, value: str, message_ts: str,
    *, thread_ts: str | None = None, action_ts: str = "1700000999.000001", label: str = "Button",
) -> dict[str, Any]:  # fmt: skip
    """A ``block_actions`` interactivity payload for one button click."""
    message: dict[str, Any] = {"type": "message", "ts": message_ts, "text": "..."}
    container: dict[str, Any] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
    if thread_ts:
        message["thread_ts"] = container["thread_ts"] = thread_ts
    action = {
        "type": "button", "action_id": action_id, "block_id": "kefu_actions", "value": value,
        "text": {"type": "plain_text", "text": label}, "action_ts": action_ts,
    }  # fmt: skip
    return {
        "type": "block_actions", "team": {"id": "T0001"}, "api_app_id": "A1",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": "T0001"},
        "channel": {"id": channel, "name": "support"}, "container": container,
        "message": message, "trigger_id": f"trig-{action_ts}", "actions": [action],
    }  # fmt: skip


def feedback_click(
    channel: str, user: str, value: str, message_ts: str, *, thread_ts: str | None = None,
    action_ts: str = "1700000998.000001",
) -> dict[str, Any]:  # fmt: skip
    """A ``block_actions`` payload for a click on a ``feedback_buttons`` element."""
    payload = block_actions(channel, user, "kefu_feedback", value, message_ts,
                            thread_ts=thread_ts, action_ts=action_ts)  # fmt: skip
    emoji = "👍" if "up" in value else "👎"
    payload["actions"][0].update(type="feedback_buttons", block_id="kefu_feedback",
                                 text={"type": "plain_text", "text": emoji})  # fmt: skip
    return payload


def assistant_thread_started(channel: str, thread_ts: str, user: str = "U1") -> dict[str, Any]:
    """The event Slack sends when someone opens the assistant (agent) view."""
    return {
        "type": "assistant_thread_started", "event_ts": thread_ts,
        "assistant_thread": {"user_id": user, "channel_id": channel, "thread_ts": thread_ts,
                             "context": {}},
    }  # fmt: skip


class SlackEventSender:
    """Posts signed Events API / interactivity requests to an app's events URL.

    Args:
        url: The app's events endpoint.
        signing_secret: The secret the app verifies with.
    """

    def __init__(self, url: str, signing_secret: str) -> None:
        self.url = url
        self.signing_secret = signing_secret

    async def post_raw(
        self, body: str, content_type: str, *, retry_num: int | None = None,
        timestamp: int | None = None, signature: str | None = None, signed: bool = True,
    ) -> tuple[int, str]:  # fmt: skip
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {"Content-Type": content_type}
        if signed:
            headers["X-Slack-Request-Timestamp"] = ts
            headers["X-Slack-Signature"] = signature or sign(self.signing_secret, ts, body)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, data=body.encode(), headers=headers) as resp,
        ):
            return resp.status, await resp.text()

    async def post_event(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        """POST a JSON Events API body (``event_callback`` or ``url_verification``)."""
        return await self.post_raw(json.dumps(payload), "application/json", **kwargs)

    async def post_action(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        """POST an interactivity payload (form-encoded ``payload=<json>``)."""
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post_raw(body, "application/x-www-form-urlencoded", **kwargs)
