"""The OpenAPI 3.1 description of the webhook API, generated from its pydantic models.

Served at ``GET /webhooks/openapi.json``. Outbound callbacks are described under the 3.1
top-level ``webhooks`` object, so one document covers both directions.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from adapters.webhook.schema import (
    AcceptedResponse,
    AnsweredResponse,
    DoneEvent,
    ErrorResponse,
    PartialEvent,
    ReplyEvent,
    WebhookMessage,
)
from adapters.webhook.signing import MAX_WEBHOOK_ID_CHARS

_REF = "#/components/schemas/{model}"

_SIGNING = (
    "Requests are signed per the Standard Webhooks specification "
    "(https://www.standardwebhooks.com/): `webhook-signature` holds one or more "
    'space-separated `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` '
    "computed with the source's `whsec_` secret (a previous secret is accepted during "
    "rotation). The timestamp must be within the configured tolerance (default ±300 s). "
    "`webhook-id` is the idempotency key: a replay returns the original result and "
    "creates no second turn."
)

_ERROR_STATUSES = {
    "400": "Malformed JSON, an unusable webhook-id.",
    "401": "Missing or invalid signature headers, a stale timestamp.",
    "404": "Unknown source.",
    "413": "Body larger than `max_body_bytes`.",
    "415": "Content-Type is not application/json.",
    "422": "Schema violation, a bad query flag, or an image that cannot be used "
    "(`message` is the user-facing text).",
    "503": "The durable store is unavailable; retry (see `Retry-After`).",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json_content(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _signature_headers() -> list[dict[str, Any]]:
    return [
        _header(
            "webhook-id",
            {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_WEBHOOK_ID_CHARS,
                "pattern": "^[!-~]+$",
            },
            "Unique message id; the idempotency key.",
        ),
        _header(
            "webhook-timestamp",
            {"type": "string", "pattern": "^[0-9]{1,12}$"},
            "Unix seconds when the message was signed.",
        ),
        _header(
            "webhook-signature",
            {"type": "string", "minLength": 1},
            "Space-separated `v1,<base64>` signatures.",
        ),
    ]


def _flag(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "boolean", "default": False},
        "description": description,
    }


_SSE_EVENTS = {
    "accepted": "AcceptedResponse",
    "partial": "PartialEvent",
    "reply": "ReplyEvent",
    "done": "DoneEvent",
    "timeout": "DoneEvent",
}


def _sse_event_schema() -> dict[str, Any]:
    """One Server-Sent Event; its ``data`` is the JSON of the model named per event type."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"enum": list(_SSE_EVENTS)}, "data": {"type": "string"}},
        "oneOf": [
            {
                "properties": {
                    "event": {"const": name},
                    "data": {"contentMediaType": "application/json", "contentSchema": _ref(model)},
                }
            }
            for name, model in _SSE_EVENTS.items()
        ],
    }


def _inbound_operation() -> dict[str, Any]:
    # A pattern, never the configured names: which platforms a shop uses is its own business.
    source_schema: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,48}$"}
    responses: dict[str, Any] = {
        "200": {
            "description": "`wait=true`: every reply (final last). `stream=true`: Server-Sent "
            "Events `accepted`, `partial` (PartialEvent), `reply` (ReplyEvent), then `done` "
            "or `timeout` (DoneEvent).",
            "content": {
                **_json_content("AnsweredResponse"),
                "text/event-stream": {"schema": _sse_event_schema()},
            },
        },
        "202": {
            "description": "Stored durably; replies follow by callback (or the wait ran out).",
            "content": _json_content("AcceptedResponse"),
        },
    }
    for status, description in _ERROR_STATUSES.items():
        responses[status] = {"description": description, "content": _json_content("ErrorResponse")}
    return {
        "operationId": "postWebhookMessage",
        "summary": "Send one customer message to kefu",
        "description": _SIGNING,
        "parameters": [
            {
                "name": "source",
                "in": "path",
                "required": True,
                "schema": source_schema,
                "description": "The configured source (third-party platform) name.",
            },
            _flag("wait", "Wait up to `wait_timeout_s` and return the replies (200)."),
            _flag(
                "stream",
                "Stream the answer as Server-Sent Events (also `Accept: text/event-stream`).",
            ),
            *_signature_headers(),
        ],
        "requestBody": {"required": True, "content": _json_content("WebhookMessage")},
        "responses": responses,
    }


def _callback_operation() -> dict[str, Any]:
    return {
        "operationId": "replyCallback",
        "summary": "kefu POSTs each reply to the source's callback_url",
        "description": "Signed like inbound requests, with the source's current secret. "
        "`webhook-id` is `msg_<outbox id>`, the same on every retry. Answer 2xx to accept; "
        "410 disables delivery (dead-letter); 429/502/504 with `Retry-After` slow kefu down; "
        "anything else is retried on `callback_retry_schedule_s` (now, 5 s, 5 min, 30 min, "
        "2 h, 5 h, 10 h, 10 h), then dead-lettered.",
        "parameters": _signature_headers(),
        "requestBody": {"required": True, "content": _json_content("ReplyEvent")},
        "responses": {
            "2XX": {"description": "Delivered."},
            "410": {"description": "Gone: stop delivering this reply."},
            "429": {"description": "Slow down; honour `Retry-After`."},
        },
    }


def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document for the webhook API (no configured source names in it)."""
    _, definitions = models_json_schema(
        [
            (WebhookMessage, "validation"),
            (AcceptedResponse, "serialization"),
            (AnsweredResponse, "serialization"),
            (ReplyEvent, "serialization"),
            (PartialEvent, "serialization"),
            (DoneEvent, "serialization"),
            (ErrorResponse, "serialization"),
        ],
        ref_template=_REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kefu webhook API",
            "version": "1.0.0",
            "description": "Generic webhook channel of kefu. " + _SIGNING,
        },
        "paths": {
            "/webhooks/{source}": {"post": _inbound_operation()},
            "/webhooks/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "webhooks": {"reply": {"post": _callback_operation()}},
        "components": {"schemas": definitions.get("$defs", {})},
    }
