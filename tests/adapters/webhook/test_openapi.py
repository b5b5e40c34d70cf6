"""The OpenAPI document: a valid 3.1 document that matches what the code accepts."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
import schemathesis

from adapters.webhook.openapi import build_openapi
from adapters.webhook.schema import WebhookMessage
from tests.adapters.webhook.conftest import message

DOCUMENT = build_openapi()


def component_validator(name: str) -> Any:
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def test_is_a_valid_openapi_31_document() -> None:
    loaded = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)))
    loaded.validate()  # against the OpenAPI 3.1 meta-schema; raises on any error
    assert DOCUMENT["openapi"] == "3.1.0"
    operations = [op.ok().label for op in loaded.get_all_operations()]
    assert sorted(operations) == ["GET /webhooks/openapi.json", "POST /webhooks/{source}"]


def test_every_ref_resolves() -> None:
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOCUMENT)
    names = {ref.rsplit("/", 1)[1] for ref in refs}
    assert names <= set(DOCUMENT["components"]["schemas"])
    assert {"WebhookMessage", "ErrorResponse", "ReplyEvent", "AcceptedResponse"} <= names


def test_inbound_operation_documents_signature_headers_and_every_status() -> None:
    post = DOCUMENT["paths"]["/webhooks/{source}"]["post"]
    headers = {p["name"] for p in post["parameters"] if p["in"] == "header" and p["required"]}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "enum" not in post["parameters"][0]["schema"]  # no configured names
    assert set(post["responses"]) == {"200", "202", "400", "401", "404", "413", "415", "422", "503"}
    for status in ("400", "401", "404", "413", "415", "422", "503"):
        content = post["responses"][status]["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/ErrorResponse"}
    sse = post["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert sse["properties"]["event"]["enum"] == ["accepted", "partial", "reply", "done", "timeout"]


def test_sse_event_schema_accepts_real_events_only() -> None:
    sse = DOCUMENT["paths"]["/webhooks/{source}"]["post"]["responses"]["200"]["content"]
    validator = jsonschema_rs.Draft202012Validator(
        {**sse["text/event-stream"]["schema"], "components": DOCUMENT["components"]}
    )
    assert validator.is_valid({"event": "partial", "data": '{"turn_id": 1, "text": "Hi"}'})
    assert not validator.is_valid({"event": "surprise", "data": "{}"})
    assert not validator.is_valid({"event": "done"})


def test_callbacks_are_described_as_31_webhooks() -> None:
    callback = DOCUMENT["webhooks"]["reply"]["post"]
    body = callback["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ReplyEvent"}
    assert {"2XX", "410", "429"} <= set(callback["responses"])


@pytest.mark.parametrize(
    "body",
    [
        message("hi"),
        message(None, images=[{"base64": "AAAA"}]),
        message(None, images=[{"url": "https://example.com/a.png"}], reply_to="x"),
        message(None, action="human"),
    ],
)
def test_bodies_the_code_accepts_match_the_schema(body: dict[str, Any]) -> None:
    WebhookMessage.model_validate(body)
    assert component_validator("WebhookMessage").is_valid(body)


@pytest.mark.parametrize(
    "body",
    [
        message(None),  # no content at all
        message("   "),  # blank text only
        message("hi", unknown=1),
        {"conversation_id": "c", "text": "hi"},
        message("hi", images=[{"base64": "AAAA", "url": "x"}]),
    ],
)
def test_bodies_the_code_refuses_are_refused_by_the_schema(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WebhookMessage.model_validate(body)
    assert not component_validator("WebhookMessage").is_valid(body)


def test_default_document_has_no_source_enum() -> None:
    source = build_openapi()["paths"]["/webhooks/{source}"]["post"]["parameters"][0]
    assert "enum" not in source["schema"] and source["schema"]["pattern"]
