"""WebhookAdapter over real HTTP with an in-memory inbox: inbound, deliver, wait and SSE."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

import main
from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.settings import WebhookSettings, WebhookSource
from core.errors import ConfigError, PermanentDeliveryError, StoreError
from core.media.fetch import FetchPolicy, SafeFetcher
from core.model.turn import (
    ConversationKey,
    ImagePart,
    Reply,
    ReplyKind,
    Role,
    TextPart,
)
from core.ports import AdapterContext, OutboundMessage
from core.texts import text
from tests.adapters.webhook.conftest import (
    KEY,
    OLD_SECRET,
    OTHER_SECRET,
    SECRET,
    MemoryInbox,
    ServeFactory,
    make_settings,
    message,
    outbound,
    png_b64,
    png_bytes,
    sign,
)
from tests.fakes.callback_receiver import CallbackReceiver


async def error_of(response: aiohttp.ClientResponse) -> dict[str, object]:
    body = await response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


# -- inbound ------------------------------------------------------------------------------


async def test_text_and_image_are_stored_as_one_turn(serve: ServeFactory) -> None:
    served = await serve()
    now = int(time.time())
    body = message(
        "what is this?",
        images=[{"base64": png_b64((40, 30))}],
        reply_to="m-0",
        message_id="platform-42",
    )
    response = await served.post(body, webhook_id="wh_1", now=now)
    assert response.status == 202
    assert await response.json() == {
        "turn_id": 1,
        "status": "accepted",
        "duplicate": False,
        "message_id": "platform-42",
    }
    turn = served.inbox.turns[1]
    assert turn.key == KEY
    assert (turn.sender.user_id, turn.sender.display_name, turn.sender.role) == (
        "u-1",
        "Ann",
        Role.CUSTOMER,
    )
    assert turn.message_id == "wh_1"
    assert turn.reply_to == "m-0"
    assert turn.timestamp == datetime.fromtimestamp(now, UTC)
    assert isinstance(turn.parts[0], TextPart) and turn.parts[0].text == "what is this?"
    image = turn.parts[1]
    assert isinstance(image, ImagePart) and (image.width, image.height) == (40, 30)
    assert turn.command is None


async def test_replay_returns_the_original_result(serve: ServeFactory) -> None:
    served = await serve()
    first = await served.post(message(), webhook_id="wh_same")
    again = await served.post(message(), webhook_id="wh_same")
    assert first.status == again.status == 202
    assert (await first.json())["turn_id"] == (await again.json())["turn_id"] == 1
    assert (await again.json())["duplicate"] is True
    assert len(served.inbox.turns) == 1


async def test_replay_after_restart_is_deduped_by_the_inbox(serve: ServeFactory) -> None:
    inbox = MemoryInbox()
    first = await (await serve(inbox=inbox)).post(message(), webhook_id="wh_r")
    # A fresh adapter (a restarted process) has no memory of the request; the inbox has.
    again = await (await serve(inbox=inbox)).post(message(), webhook_id="wh_r")
    assert (await again.json()) == {**(await first.json()), "duplicate": True}
    assert len(inbox.turns) == 1


async def test_replay_does_not_refetch_images(serve: ServeFactory, image_host: ImageHost) -> None:
    served = await serve(fetcher=SafeFetcher(FetchPolicy.allowing("127.0.0.1/32")))
    body = message(images=[{"url": image_host.url("/photo.png")}])
    assert (await served.post(body, webhook_id="wh_img")).status == 202
    image_host.broken = True  # the URL has expired since; the replay must still succeed
    again = await served.post(body, webhook_id="wh_img")
    assert again.status == 202 and (await again.json())["duplicate"] is True
    assert image_host.hits == 1


async def test_same_webhook_id_from_another_source_is_another_turn(serve: ServeFactory) -> None:
    settings = WebhookSettings(
        sources={"shop": WebhookSource(secret=SECRET), "crm": WebhookSource(secret=SECRET)}
    )
    served = await serve(settings=settings)
    assert (await (await served.post(message(), webhook_id="x")).json())["turn_id"] == 1
    other = await served.post(message(), webhook_id="x", source="crm")
    assert (await other.json())["turn_id"] == 2
    assert served.inbox.turns[2].key.channel == "webhook:crm"


async def test_previous_secret_is_accepted_during_rotation(serve: ServeFactory) -> None:
    served = await serve()
    assert (await served.post(message(), secret=OLD_SECRET)).status == 202


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"secret": OTHER_SECRET}, "invalid_signature"),
        ({"now": time.time() - 3600}, "stale_timestamp"),
        ({"now": time.time() + 3600}, "stale_timestamp"),
        ({"headers": {"webhook-signature": "v1,AAAA"}}, "invalid_signature"),
        ({"headers": {"webhook-timestamp": "yesterday"}}, "invalid_timestamp"),
    ],
)
async def test_bad_signatures_are_401_and_store_nothing(
    serve: ServeFactory, kwargs: dict[str, object], code: str
) -> None:
    served = await serve()
    response = await served.post(message(), **kwargs)  # type: ignore[arg-type]
    assert response.status == 401
    assert (await error_of(response))["code"] == code
    assert served.inbox.turns == {}


async def test_missing_signature_is_401(serve: ServeFactory) -> None:
    served = await serve()
    response = await served.session.post(f"{served.base_url}/webhooks/shop", json=message())
    assert response.status == 401
    assert (await error_of(response))["code"] == "missing_signature"
    assert served.inbox.turns == {}


async def test_signature_covers_the_exact_body(serve: ServeFactory) -> None:
    served = await serve()
    signed = json.dumps(message("pay 10")).encode()
    forged = json.dumps(message("pay 1000")).encode()
    response = await served.session.post(
        f"{served.base_url}/webhooks/shop",
        data=forged,
        headers={**sign(signed, "wh_f"), "Content-Type": "application/json"},
    )
    assert response.status == 401
    assert served.inbox.turns == {}


async def test_unknown_source_is_404(serve: ServeFactory) -> None:
    served = await serve()
    response = await served.post(message(), source="nobody")
    assert response.status == 404
    assert await error_of(response) == {
        "code": "unknown_source",
        "field": "source",
        "message": "no webhook source named 'nobody'",
        "detail": None,
    }


async def test_body_over_the_cap_is_413(serve: ServeFactory) -> None:
    served = await serve(settings=make_settings(max_body_bytes=2000))
    big = message("x" * 3000)
    response = await served.post(big)
    assert response.status == 413
    assert (await error_of(response))["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap holds while reading
        for _ in range(10):
            yield b"x" * 500

    headers = sign(b"{}", "chunked-1")  # well-formed, so the body is read (and capped)
    chunked = await served.session.post(
        f"{served.base_url}/webhooks/shop", data=chunks(), headers=headers
    )
    assert chunked.status == 413
    assert served.inbox.turns == {}


async def _first_response_line(base_url: str, head: str, timeout_s: float = 3.0) -> str:
    """Send only a request's head and 1 KB of its declared body; the status line that comes
    back. A server that waited for the whole body would time out here."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode() + b"\r\n" + b"x" * 1024)
        await writer.drain()
        async with asyncio.timeout(timeout_s):
            return (await reader.readline()).decode().strip()
    finally:
        writer.close()


async def test_unsigned_and_oversized_bodies_are_refused_before_they_are_read(
    serve: ServeFactory,
) -> None:
    served = await serve(settings=make_settings(max_body_bytes=100_000))
    declared = 29 * 1024 * 1024
    common = "POST /webhooks/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    unsigned = common + f"Content-Length: {declared}\r\n"
    assert " 401 " in await _first_response_line(served.base_url, unsigned)
    malformed = unsigned + "webhook-id: a\r\nwebhook-timestamp: 1\r\nwebhook-signature: v2\r\n"
    assert " 401 " in await _first_response_line(served.base_url, malformed)
    fresh = sign(b"{}", "big-1")
    signed = unsigned + "".join(f"{k}: {v}\r\n" for k, v in fresh.items())
    assert " 413 " in await _first_response_line(served.base_url, signed)
    assert served.inbox.turns == {}


async def test_the_body_must_be_declared_json(serve: ServeFactory) -> None:
    served = await serve()
    body = json.dumps(message("hi")).encode()
    headers = {**sign(body, "ct-1"), "Content-Type": "text/plain"}
    response = await served.session.post(
        f"{served.base_url}/webhooks/shop", data=body, headers=headers
    )
    assert response.status == 415
    assert (await error_of(response))["code"] == "unsupported_media_type"
    assert served.inbox.turns == {}


async def test_deeply_nested_json_is_a_400(serve: ServeFactory) -> None:
    served = await serve()
    body = b'{"conversation_id": "c", "user": {"id": "u"}, "extra": ' + b"[" * 100_000
    body += b"]" * 100_000 + b"}"
    headers = {**sign(body, "deep-1"), "Content-Type": "application/json"}
    response = await served.session.post(
        f"{served.base_url}/webhooks/shop", data=body, headers=headers
    )
    assert response.status == 400
    assert (await error_of(response))["code"] == "malformed_json"


async def test_malformed_json_is_400_and_schema_errors_422(serve: ServeFactory) -> None:
    served = await serve()
    malformed = await served.post(b"{oops")
    assert malformed.status == 400
    assert (await error_of(malformed))["code"] == "malformed_json"
    invalid = await served.post({"conversation_id": "c", "text": "hi"})
    assert invalid.status == 422
    assert await error_of(invalid) == {
        "code": "validation_error",
        "message": "Field required",
        "field": "user",
        "detail": None,
    }
    assert served.inbox.turns == {}


@pytest.mark.parametrize(
    ("image", "code", "key"),
    [
        ({"base64": "bm90IGFuIGltYWdl"}, "unsupported_image_format", "image_unsupported"),
        ({"base64": "%%%"}, "invalid_image", "image_invalid"),
        ({"base64": png_b64(), "mime": "text/plain"}, "invalid_image", "image_invalid"),
    ],
)
async def test_bad_image_is_422_with_the_user_facing_message(
    serve: ServeFactory, image: dict[str, str], code: str, key: str
) -> None:
    served = await serve()
    response = await served.post(message("这是什么", images=[image]))
    assert response.status == 422
    error = await error_of(response)
    assert (error["code"], error["field"]) == (code, "images.0")
    assert error["message"] == text(key, "zh")
    assert served.inbox.turns == {}


async def test_oversized_image_is_422(serve: ServeFactory) -> None:
    served = await serve(settings=make_settings(max_image_bytes=100))
    response = await served.post(message("look", images=[{"base64": png_b64((64, 64))}]))
    assert response.status == 422
    error = await error_of(response)
    assert error["code"] == "image_too_large"
    assert error["message"] == text("image_too_large", "en")


async def test_invalid_query_flag_is_422(serve: ServeFactory) -> None:
    served = await serve()
    response = await served.post(message(), query="?wait=perhaps")
    assert response.status == 422
    assert (await error_of(response))["field"] == "wait"


async def test_store_failure_is_503_so_the_sender_retries(serve: ServeFactory) -> None:
    served = await serve()
    served.inbox.fail_with = StoreError("(sqlite3.OperationalError) database is locked [SQL: x]")
    response = await served.post(message(), webhook_id="wh_down")
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert "sqlite3" not in await response.text()  # the database's own words stay inside
    served.inbox.fail_with = None
    retried = await served.post(message(), webhook_id="wh_down")  # not mistaken for a replay
    assert retried.status == 202 and (await retried.json())["duplicate"] is False


@pytest.mark.parametrize(
    ("body", "command"),
    [
        (message("/reset"), "reset"),
        (message("/HELP me"), "help"),
        (message("/unknown thing"), None),
        (message("reset"), None),
        (message(None, action="human"), "human"),
        (message("ok", action="/Start"), "start"),
    ],
)
async def test_commands_and_button_actions(
    serve: ServeFactory, body: dict[str, object], command: str | None
) -> None:
    served = await serve()
    assert (await served.post(body)).status == 202
    assert served.inbox.turns[1].command == command


# -- image URLs through the SSRF guard -------------------------------------------------------


class ImageHost:
    def __init__(self) -> None:
        self.hits = 0
        self.broken = False
        self.runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.broken:
            raise web.HTTPNotFound()
        return web.Response(body=png_bytes((20, 10)), content_type="image/png")


@pytest.fixture
async def image_host() -> AsyncIterator[ImageHost]:
    host = ImageHost()
    app = web.Application()
    app.router.add_get("/{name}", host.handle)
    host.runner = web.AppRunner(app)
    await host.runner.setup()
    await web.TCPSite(host.runner, "127.0.0.1", 0).start()
    host.port = host.runner.addresses[0][1]
    yield host
    await host.runner.cleanup()


async def test_image_url_is_fetched_when_the_guard_allows_it(
    serve: ServeFactory, image_host: ImageHost
) -> None:
    served = await serve(fetcher=SafeFetcher(FetchPolicy.allowing("127.0.0.1/32")))
    response = await served.post(message(images=[{"url": image_host.url("/p.png")}]))
    assert response.status == 202
    image = served.inbox.turns[1].images[0]
    assert (image.width, image.height) == (20, 10)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/p.png",
        "http://[::ffff:127.0.0.1]:{port}/p.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/p.png",
        "http://localhost:{port}/p.png",
        "file:///etc/passwd",
    ],
)
async def test_image_url_to_internal_addresses_is_refused_by_default(
    serve: ServeFactory, image_host: ImageHost, url: str
) -> None:
    served = await serve()  # the default, settings-built guard
    response = await served.post(message(images=[{"url": url.format(port=image_host.port)}]))
    assert response.status == 422
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("fetch_failed", "images.0")
    assert error["message"] == text("image_fetch_failed", "en")
    assert error["detail"] is None  # the guard's reason names resolved addresses
    assert "127.0.0.1" not in json.dumps(error)
    assert image_host.hits == 0
    assert served.inbox.turns == {}


async def test_image_urls_can_be_switched_off(serve: ServeFactory) -> None:
    served = await serve(settings=make_settings(allow_image_urls=False))
    response = await served.post(message(images=[{"url": "https://example.com/a.png"}]))
    assert response.status == 422
    assert "send base64" in str((await error_of(response))["detail"])


# -- outbound -------------------------------------------------------------------------------


async def test_deliver_posts_a_signed_callback() -> None:
    async with CallbackReceiver(SECRET) as receiver:
        adapter = WebhookAdapter(AdapterContext(MemoryInbox()), make_settings(receiver.url))
        try:
            receipt = await adapter.deliver(outbound(17, turn_id=3))
            await adapter.deliver(outbound(17, turn_id=3, attempt=2))  # a retry of the same row
        finally:
            await adapter.stop()
    assert receipt.platform_message_ids == ("msg_17",)
    assert [c.webhook_id for c in receiver.delivered] == ["msg_17", "msg_17"]
    assert receiver.calls[0].body == {
        "text": "Echo: hello",
        "kind": "answer",
        "reply_to": "msg_test_1",
        "confidence": {"score": 0.8, "reasons": ["grounded"]},
        "buttons": [{"label": "Talk to a person", "action": "human"}],
        "images": [],
        "source": "shop",
        "conversation_id": "conv-1",
        "turn_id": 3,
        "seq": 1,
        "final": True,
    }


async def test_deliver_without_callback_url_only_records() -> None:
    adapter = WebhookAdapter(AdapterContext(MemoryInbox()), make_settings(None))
    receipt = await adapter.deliver(outbound(5, turn_id=2))
    assert receipt.platform_message_ids == ("local:5",)
    assert [r.text for r in adapter.book.replies(2)] == ["Echo: hello"]


async def test_deliver_to_a_removed_source_is_permanent() -> None:
    adapter = WebhookAdapter(AdapterContext(MemoryInbox()), make_settings(None))
    gone = OutboundMessage(1, Reply(ConversationKey("webhook", "c", source="old"), "x"), 1)
    with pytest.raises(PermanentDeliveryError):
        await adapter.deliver(gone)


def test_reply_images_travel_as_base64() -> None:
    adapter = WebhookAdapter(AdapterContext(MemoryInbox()), make_settings(None))
    image = ImagePart.from_normalised(b"\x89PNG...", "image/png", 2, 1)
    [content] = adapter.to_platform(Reply(KEY, "see photo", ReplyKind.RELAY, images=(image,)))
    assert content.kind == "relay"
    assert content.images[0].base64 == "iVBORy4uLg=="


def test_retry_schedule_is_the_delays_between_attempts() -> None:
    adapter = WebhookAdapter(AdapterContext(MemoryInbox()), WebhookSettings())
    assert adapter.retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (WebhookSource(), "no secret"),
        (WebhookSource(secret="whsec_!!"), "not whsec_"),
    ],
)
def test_misconfigured_sources_refuse_to_start(source: WebhookSource, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        WebhookAdapter(AdapterContext(MemoryInbox()), WebhookSettings(sources={"shop": source}))


def test_source_names_must_fit_the_platform_column() -> None:
    with pytest.raises(ConfigError, match="must match"):
        WebhookAdapter(
            AdapterContext(MemoryInbox()),
            WebhookSettings(sources={"x" * 49: WebhookSource(secret=SECRET)}),
        )


async def test_openapi_document_is_served_without_the_source_names(serve: ServeFactory) -> None:
    served = await serve()
    response = await served.session.get(f"{served.base_url}/webhooks/openapi.json")
    assert response.status == 200
    text = await response.text()
    document = json.loads(text)
    assert document["openapi"] == "3.1.0"
    source = document["paths"]["/webhooks/{source}"]["post"]["parameters"][0]
    assert "enum" not in source["schema"] and source["schema"]["pattern"]
    assert '"shop"' not in text  # which platforms a shop uses is nobody's business


def test_sources_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_WEBHOOK__SOURCES__CRM__SECRET", SECRET)
    monkeypatch.setenv("KEFU_WEBHOOK__SOURCES__CRM__PREVIOUS_SECRETS", json.dumps([OLD_SECRET]))
    monkeypatch.setenv("KEFU_WEBHOOK__SOURCES__CRM__CALLBACK_URL", "http://127.0.0.1:9/cb")
    settings = main.load_settings().platform("webhook")  # from the environment, as serve does
    adapter = WebhookAdapter(AdapterContext(MemoryInbox()), settings)
    assert adapter.settings.sources["crm"].callback_url == "http://127.0.0.1:9/cb"
    assert "kefu-webhook-test-secret" not in repr(adapter._sources)
    body = b"{}"
    for secret in (SECRET, OLD_SECRET):
        assert adapter._sources["crm"].verifier.verify(sign(body, "m", secret), body)
