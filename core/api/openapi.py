"""``GET /openapi.json``: an OpenAPI 3.1 description of every route the server has.

The document is built from the application's router when it is asked for, so it lists
the routes every adapter added as well as the core's (a platform's route appears with its
path parameters and a JSON body; its own detailed document, such as the webhook API's, is
served by the adapter). The core's routes carry their request schema and security. Path
parameters are described by pattern, never by the values configured (no source names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from core.api.protocol import ChatCompletionRequest

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_REF = "#/components/schemas/{model}"
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_JSON_ERROR = {"description": "An error", "content": {"application/json": {"schema": {}}}}
_ANY_JSON_BODY = {"content": {"application/json": {"schema": {}}}, "required": False}

# What the core's own routes are, beyond their template.
_CORE: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/chat/completions"): {
        "summary": "OpenAI-compatible chat completion (inference scope)",
        "security": _BEARER,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model="ChatCompletionRequest")}}
            },
        },
    },
    ("GET", "/v1/models"): {"summary": "The served model (inference scope)", "security": _BEARER},
    ("GET", "/v1/conversations/{key}/export"): {
        "summary": "A conversation as JSON (operator scope)",
        "security": _BEARER,
    },
    ("GET", "/healthz"): {"summary": "Alive, with disk space under the store"},
    ("GET", "/readyz"): {"summary": "Whether the engine can answer"},
    ("GET", "/metrics"): {"summary": "Prometheus metrics (metrics scope)", "security": _BEARER},
    ("GET", "/openapi.json"): {"summary": "This document"},
}


def _routes(app: web.Application, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, template) of every route, sub-applications included."""
    for resource in app.router.resources():
        info = resource.get_info()
        sub = info.get("app")
        if isinstance(sub, web.Application):
            yield from _routes(sub, "")  # a sub-app's resources already carry its prefix
            continue
        for route in resource:
            if route.method in ("HEAD", "*"):
                continue
            yield route.method, prefix + resource.canonical


def _operation(method: str, template: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', template)}",
        "responses": {"200": {"description": "Success"}, "default": _JSON_ERROR},
    }
    names = _PARAM.findall(template)
    if names:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names
        ]
    if method in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = _ANY_JSON_BODY
    operation.update(_CORE.get((method, template), {}))
    return operation


def build_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes."""
    paths: dict[str, dict[str, Any]] = {}
    for method, template in sorted(set(_routes(app))):
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", template)
        paths.setdefault(path, {})[method.lower()] = _operation(method, template)
    _, schemas = models_json_schema([(ChatCompletionRequest, "validation")], ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "kefu", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app))
