"""The operator desk at ``/ops``: the handoff queue, conversations, the system, a playground.

Every route but the sign-in form is behind :func:`adapters.web.auth.operator_allowed`.
Reads come from the store (:mod:`core.store.console`); operators' actions are staff turns
put in the inbox on the handoff's thread (:func:`adapters.web.desk.staff_key`), so the
worker applies them exactly like a Slack click or thread reply.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from adapters.web.adapter import DESK_CHANNEL, STATIC_DIR, WebAdapter
from adapters.web.auth import OPS_COOKIE, operator_allowed, refused, session_value, token_matches
from adapters.web.desk import WebDesk, staff_key
from adapters.web.hub import stream
from adapters.web.messages import normalise_photos, read_upload
from adapters.web.playground import PlaygroundQuestion, try_question
from adapters.web.status import SystemStatus
from core.answering.bot import BotBrain
from core.engines.base import Engine
from core.errors import ConfigError, EngineError, InvalidInputError, StoreError
from core.media.images import ImageLimits
from core.model.decision import ConversationState, HandoffStatus
from core.model.turn import Command, Role, Sender, TextPart, Turn
from core.ports import InboxPort
from core.store.export import export_conversation
from core.store.store import Store

QUEUES = {
    "waiting": (HandoffStatus.OPEN,),
    "taken": (HandoffStatus.TAKEN,),
    "resolved": (HandoffStatus.RESOLVED, HandoffStatus.RETURNED),
}
ACTIONS = {"take": Command.TAKE, "resolve": Command.RESOLVE, "return": Command.RETURN}


@dataclass(frozen=True, slots=True)
class OpsOptions:
    token: str | None
    handoff_wait_minutes: int = 10
    max_images: int = 6
    image_limits: ImageLimits = field(default_factory=ImageLimits)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=lambda v: json.dumps(v, default=str))


class OpsConsole:
    """Mounts ``/ops`` on ``app``.

    Args:
        app: The shared application.
        store: Reads, images and exports.
        inbox: Where operators' actions go.
        web_adapter: Its desk events are the desk pages' live feed.
        status: The system panel.
        brain: The customer brain (the playground asks it).
        engine: The engine (the playground's generation).
        options: The token and limits.
    """

    def __init__(
        self,
        app: web.Application,
        store: Store,
        inbox: InboxPort,
        web_adapter: WebAdapter,
        status: SystemStatus,
        brain: BotBrain | None,
        engine: Engine,
        options: OpsOptions,
    ) -> None:
        self.store, self.inbox, self.web = store, inbox, web_adapter
        self.reads = status.reads
        self.status, self.brain, self.engine, self.options = status, brain, engine, options
        self._photo_slots = asyncio.Semaphore(2)
        app.router.add_get("/ops", self._page)
        app.router.add_post("/ops/login", self._login)
        app.router.add_post("/ops/logout", self._logout)
        api = web.Application(middlewares=[self._guard])
        api.router.add_get("/handoffs", self._handoffs)
        api.router.add_post("/handoffs/{id:\\d+}/{action}", self._act)
        api.router.add_get("/conversations", self._conversations)
        api.router.add_get("/conversations/{id:\\d+}", self._conversation)
        api.router.add_get("/conversations/{id:\\d+}/export", self._export)
        api.router.add_get("/images/{sha:[0-9a-f]{64}}", self._image)
        api.router.add_get("/events", self._events)
        api.router.add_get("/system", self._system)
        api.router.add_post("/knowledge/reload", self._reload)
        api.router.add_post("/playground", self._playground)
        app.add_subapp("/ops/api", api)

    @property
    def reachable(self) -> bool:
        """Whether anyone can open the desk (a token is set)."""
        return bool(self.options.token)

    # -- access ----------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not operator_allowed(request, self.options.token):
            return refused()
        response: web.StreamResponse = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if operator_allowed(request, self.options.token):
            return web.FileResponse(STATIC_DIR / "ops.html", headers={"Cache-Control": "no-store"})
        page = (STATIC_DIR / "login.html").read_text(encoding="utf-8")
        return web.Response(text=page, content_type="text/html", status=401)

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token", ""))
        if not token_matches(token, self.options.token):
            raise web.HTTPFound("/ops?refused=1")
        response = web.HTTPSeeOther("/ops")
        response.set_cookie(
            OPS_COOKIE, session_value(token), httponly=True, samesite="Strict", path="/ops"
        )
        raise response

    async def _logout(self, request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("/ops")
        response.del_cookie(OPS_COOKIE, path="/ops")
        raise response

    # -- the queue and the actions ---------------------------------------------------------

    async def _handoffs(self, request: web.Request) -> web.Response:
        lists = {name: await self.reads.queue(statuses, 50) for name, statuses in QUEUES.items()}
        return _json({name: [asdict(e) for e in entries] for name, entries in lists.items()})

    async def _act(self, request: web.Request) -> web.Response:
        """Take / Resolve / Return / Reply: a staff turn on the handoff's thread."""
        handoff_id = int(request.match_info["id"])
        action = request.match_info["action"]
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "send the action as JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "send the action as a JSON object"}, 400)
        name = str(body.get("name") or "").strip()[:64] or "operator"
        client_id = str(body.get("client_id") or uuid.uuid4().hex)[:64]
        entry = await self.reads.handoff(handoff_id)
        if entry is None:
            return _json({"error": f"no handoff {handoff_id}"}, 404)
        if not entry.opened:
            return _json({"error": "the desk is still opening this handoff; try again"}, 409)
        if entry.target != WebDesk.target:
            return _json({"error": f"this handoff is held on the {entry.target} desk"}, 409)
        key = staff_key(handoff_id)
        sender = Sender(f"ops:{name}", name, Role.STAFF)
        message_id = f"ops:{client_id}"
        if action == "reply":
            words = str(body.get("text") or "").strip()
            if not words:
                return _json({"error": "the reply is empty"}, 400)
            turn = Turn(key, sender, message_id, (TextPart(words[:4000]),))
        elif action in ACTIONS:
            turn = Turn(key, sender, message_id, (), command=ACTIONS[action],
                        command_arg=str(handoff_id))  # fmt: skip
        else:
            return _json({"error": f"unknown action {action!r}"}, 400)
        try:
            result = await self.inbox.put(turn)
        except StoreError:
            return _json({"error": "not stored, try again"}, 503)
        return _json({"turn": result.turn_id, "duplicate": result.duplicate}, 202)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        return await stream(request, self.web.desk_events, DESK_CHANNEL)

    # -- conversations ---------------------------------------------------------------------

    async def _conversations(self, request: web.Request) -> web.Response:
        state_name = request.query.get("state", "")
        state = ConversationState(state_name) if state_name in ("bot", "handoff") else None
        found = await self.reads.conversations(request.query.get("platform") or None, state)
        platforms = await self.reads.platforms()
        return _json({"platforms": platforms, "conversations": [asdict(c) for c in found]})

    async def _conversation(self, request: web.Request) -> web.Response:
        detail = await self.reads.detail(int(request.match_info["id"]))
        if detail is None:
            return _json({"error": "no such conversation"}, 404)
        return _json(asdict(detail))

    async def _export(self, request: web.Request) -> web.Response:
        key = await self.reads.key_of(int(request.match_info["id"]))
        if key is None:
            return _json({"error": "no such conversation"}, 404)
        data = await export_conversation(self.store, key)
        name = f"kefu-{key.channel}-{key.chat_id[:16]}.json".replace(":", "-")
        response = _json(data)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    async def _image(self, request: web.Request) -> web.Response:
        sha = request.match_info["sha"]
        found = (await self.store.load_images({sha})).get(sha)
        if found is None:
            return _json({"error": "no such image"}, 404)
        return web.Response(body=found.data, content_type=found.mime)

    # -- system and playground -------------------------------------------------------------

    async def _system(self, request: web.Request) -> web.Response:
        return _json(await self.status.snapshot())

    async def _reload(self, request: web.Request) -> web.Response:
        try:
            knowledge = await self.status.reload_knowledge()
        except ConfigError as exc:
            return _json({"error": str(exc), "kept": self.status.knowledge()}, 422)
        return _json({"knowledge": knowledge})

    async def _playground(self, request: web.Request) -> web.Response:
        if self.brain is None:
            return _json({"error": "no customer bot to ask"}, 503)
        try:
            question = await self._question(request)
            answer = await try_question(
                self.brain, self.engine, question, self.options.handoff_wait_minutes
            )
        except InvalidInputError as exc:
            return _json({"error": str(exc)}, 400)
        except EngineError as exc:
            return _json({"error": f"engine: {exc}"}, 503)
        return _json(answer)

    async def _question(self, request: web.Request) -> PlaygroundQuestion:
        limits = self.options.image_limits
        temperature = _number(request.query.get("temperature", "0"), 0.0, 2.0, "temperature")
        max_tokens = int(_number(request.query.get("max_tokens", "256"), 1, 2048, "max_tokens"))
        raw = await read_upload(request, self.options.max_images, limits.max_bytes)
        images = await normalise_photos(raw.photos, limits, self._photo_slots)
        return PlaygroundQuestion(raw.text, images, temperature, max_tokens)


def _number(value: str, low: float, high: float, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number") from None
    if not low <= number <= high:
        raise InvalidInputError(f"{name} must be between {low:g} and {high:g}")
    return number
