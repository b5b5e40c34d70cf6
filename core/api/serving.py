"""The HTTP API's shape: the ``/v1`` sub-application, its error middleware, and the
operational routes (``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``).

``/metrics`` needs the metrics token (:mod:`core.api.access`), and its request counter is
labelled with route templates (``/v1/conversations/{key}/export``), never with the path a
client sent: a path can hold a conversation key, and 5,000 random paths must not make 5,000
series. Every path no route matches counts under one label, ``unmatched``.

Everything under ``/v1`` answers errors in OpenAI's shape (the middleware is the sub-app's
own, so adapters' routes on the root application keep theirs). Handlers find their state
through typed :class:`aiohttp.web.AppKey` entries, never through module globals.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from core.api import protocol as wire
from core.api.access import Scope, check_access
from core.api.export import ExportRoute
from core.api.openapi import openapi_handler
from core.api.routes import CoreService, ServiceOptions
from core.engines.base import Engine
from core.errors import InvalidInputError, KefuError
from core.store.store import Store
from core.texts import public_message

REQUESTS = Counter("kefu_service_requests_total", "Core service requests", ["endpoint", "status"])
SERVICE_KEY = web.AppKey("kefu_core_service", CoreService)
EXPORT_KEY = web.AppKey("kefu_export_route", ExportRoute)
UNMATCHED = "unmatched"
log = logging.getLogger(__name__)


def _error(status: int, message: str, kind: str, code: str) -> web.Response:
    return web.json_response(wire.error_body(message, kind, code), status=status)


@web.middleware
async def openai_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure under ``/v1`` as an OpenAI error body with the right status."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        response = _error(exc.status, exc.reason, "invalid_request_error", code)
    except InvalidInputError as exc:
        # OpenAI clients expect 400 for any bad input (image errors included).
        response = _error(400, str(exc), "invalid_request_error", exc.code)
    except KefuError as exc:
        kind = "invalid_request_error" if exc.http_status < 500 else "server_error"
        if not exc.discloses:
            log.warning("%s %s: %s", request.method, route_label(request), exc)
        response = _error(exc.http_status, public_message(exc), kind, exc.code)
    REQUESTS.labels(route_label(request), str(response.status)).inc()
    return response


def route_label(request: web.Request) -> str:
    """The template of the route that served ``request`` (a bounded set), or ``unmatched``."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    return await request.app[SERVICE_KEY].chat_completions(request)


async def _models(request: web.Request) -> web.Response:
    return await request.app[SERVICE_KEY].models(request)


async def _export(request: web.Request) -> web.Response:
    return await request.app[EXPORT_KEY].handle(request)


async def _healthz(options: ServiceOptions, _request: web.Request) -> web.Response:
    """Alive, and able to write: a full disk under the store fails the check."""
    for path in options.health_paths:
        try:
            free = shutil.disk_usage(path).free
        except OSError:
            return web.json_response({"status": "storage_unavailable"}, status=503)
        if free < options.min_free_bytes:
            return web.json_response({"status": "disk_full"}, status=503)
    return web.json_response({"status": "ok"})


async def _metrics(options: ServiceOptions, request: web.Request) -> web.Response:
    if (denied := check_access(request, Scope.METRICS, options.access)) is not None:
        return denied
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def mount_api(
    app: web.Application,
    engine: Engine | None,
    options: ServiceOptions | None = None,
    store: Store | None = None,
) -> web.Application:
    """Mount ``/v1`` and the operational routes on ``app``; returns the ``/v1`` sub-app.

    Args:
        app: The root application (adapters add their own routes to it).
        engine: Serves ``/v1/chat/completions`` and ``/v1/models``, and decides
            ``/readyz``; None in a process without a model (``serve --role ingest``).
        options: Keys, image limits and defaults of the inference routes.
        store: Serves ``/v1/conversations/{key}/export`` when given.
    """
    options = options or ServiceOptions()
    v1 = web.Application()
    v1.middlewares.append(openai_errors)
    if engine is not None:
        service = CoreService(engine, options)
        v1[SERVICE_KEY] = service
        v1.router.add_post("/chat/completions", _chat_completions)
        v1.router.add_get("/models", _models)
        app.router.add_get("/readyz", service.readyz)

        async def _stop(_app: web.Application) -> None:
            await service.stop()

        app.on_cleanup.append(_stop)
    if store is not None:
        v1[EXPORT_KEY] = ExportRoute(store, options.access)
        v1.router.add_get("/conversations/{key}/export", _export)
    app.add_subapp("/v1", v1)
    app.router.add_get("/healthz", partial(_healthz, options))
    app.router.add_get("/metrics", partial(_metrics, options))
    app.router.add_get("/openapi.json", openapi_handler)
    return v1


def build_service_app(engine: Engine, options: ServiceOptions | None = None) -> web.Application:
    """A standalone application serving only the inference API (``main.py core``)."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    mount_api(app, engine, options)
    return app
