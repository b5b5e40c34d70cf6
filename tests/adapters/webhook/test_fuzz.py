"""Fuzz the webhook API from its own OpenAPI document with schemathesis.

A whole kefu runs on 127.0.0.1 through the harness (real store, worker, dispatcher,
StubEngine). schemathesis generates requests from the served
``/webhooks/openapi.json``, valid and invalid ones; three in four are signed with a valid Standard Webhooks signature (in the
test, over the exact bytes sent) so the body validation path is exercised, the rest must
be refused. No request may produce a 5xx, every response must match the document, and
only accepted requests may leave a turn in the store.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import aiohttp
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.signing import parse_secret, signed_headers
from core.engines.stub import StubEngine
from core.ports import AdapterContext
from tests.adapters.webhook.conftest import SECRET, make_settings
from tests.harness import KefuHarness

MAX_EXAMPLES = 200
KEY = parse_secret(SECRET)
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _wire_body(case: Any) -> bytes:
    """The exact bytes to send (and sign) for a generated body, valid JSON or not."""
    body = case.body
    if type(body).__name__ == "NotSet":
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return json.dumps(body).encode()


def _turn_id(text: str) -> int:
    """The turn id of a JSON response or of an SSE stream (its ``accepted`` event)."""
    if text.startswith("event: accepted"):
        text = text.split("data: ", 1)[1].split("\n", 1)[0]
    turn_id: int = json.loads(text)["turn_id"]
    return turn_id


def _only_the_body_is_invalid(case: Any) -> bool:
    """Negative cases whose negation survives signing: headers are re-made, and unknown
    query parameters are ignored by design, so only a body negation must be rejected."""
    components = case.meta.components if case.meta else {}
    negative = {str(loc) for loc, info in components.items() if info.mode.is_negative}
    return negative == {"body"}


def _fuzz(document: dict[str, Any], base_url: str) -> Counter[str]:
    """Runs in a worker thread: schemathesis and requests are synchronous."""
    operation = schemathesis.openapi.from_dict(document)["/webhooks/{source}"]["POST"]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    seen: Counter[str] = Counter()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, signed=st.sampled_from([True, True, True, False]))
    def check(case: Any, signed: bool) -> None:
        raw = _wire_body(case)
        headers = signed_headers(KEY, f"fuzz_{uuid.uuid4().hex}", raw) if signed else None
        response = case.call(base_url=base_url, headers=headers, data=raw, timeout=30)
        checks = list(CONFORMANCE)
        if signed and _only_the_body_is_invalid(case):
            checks.append(negative_data_rejection)
        case.validate_response(response, checks=checks)
        if not signed:
            # Unsigned: refused before anything is read (404 only for an unknown source).
            assert response.status_code in (401, 404), response.text
        seen[f"{'signed' if signed else 'unsigned'} {response.status_code}"] += 1
        if response.status_code in (200, 202):
            seen[f"turn {_turn_id(response.text)}"] += 1

    check()
    return seen


async def test_fuzzed_requests_never_crash_and_conform_to_the_spec() -> None:
    settings_ = make_settings(None, wait_timeout_s=10)

    def make_adapter(context: AdapterContext) -> WebhookAdapter:
        return WebhookAdapter(context, settings_)

    async with KefuHarness(engine=StubEngine(), adapters={"webhook": make_adapter}) as kefu:
        async with aiohttp.ClientSession() as session:
            url = f"{kefu.base_url}/webhooks/openapi.json"
            document = await (await session.get(url)).json()
        # The served document names no source (by design); the test knows the one it set up.
        operation = document["paths"]["/webhooks/{source}"]["post"]
        operation["parameters"][0]["schema"] = {"type": "string", "enum": ["shop"]}
        seen = await asyncio.to_thread(_fuzz, document, kefu.base_url)
        await kefu.wait_until_idle(timeout=60)
        assert kefu.store is not None
        counts = await kefu.store.counts()

    statuses = {key: n for key, n in seen.items() if not key.startswith("turn ")}
    accepted_turns = {key for key in seen if key.startswith("turn ")}
    # Both paths were exercised: bodies accepted, bodies refused by validation, and auth.
    assert statuses.get("signed 202", 0) + statuses.get("signed 200", 0) > 0, statuses
    assert statuses.get("signed 422", 0) > 0, statuses
    assert statuses.get("unsigned 401", 0) > 0, statuses
    # Only accepted requests stored turns, and each one was answered.
    inbox_rows = sum(n for key, n in counts.items() if key.startswith("inbox."))
    assert inbox_rows == len(accepted_turns)
    assert counts.get("inbox.done", 0) == inbox_rows
