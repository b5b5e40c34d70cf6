"""CallbackSender against the fake receiver: signatures, and how statuses map to errors."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from adapters.webhook.callbacks import (
    DEFAULT_RETRY_AFTER_S,
    MAX_RETRY_AFTER_S,
    CallbackSender,
    parse_retry_after,
)
from adapters.webhook.signing import parse_secret
from core.errors import PermanentDeliveryError, PlatformError, RateLimitedError
from tests.adapters.webhook.conftest import SECRET
from tests.fakes.callback_receiver import CallbackReceiver

KEY = parse_secret(SECRET)
BODY = json.dumps({"text": "hi", "seq": 1}).encode()


async def test_delivers_a_signed_callback_the_library_verifies() -> None:
    sender = CallbackSender()
    try:
        async with CallbackReceiver(SECRET) as receiver:
            await sender.post(receiver.url, KEY, "msg_7", BODY)
            [call] = receiver.calls
    finally:
        await sender.close()
    assert call.verified and call.answered == 200
    assert call.webhook_id == "msg_7"
    assert call.body == {"text": "hi", "seq": 1}
    assert call.headers["content-type"] == "application/json"


async def test_wrong_key_fails_verification_at_the_receiver() -> None:
    sender = CallbackSender()
    try:
        async with CallbackReceiver(SECRET) as receiver:
            with pytest.raises(PlatformError, match="401"):
                await sender.post(receiver.url, b"not-the-key", "msg_1", BODY)
            assert [c.verified for c in receiver.calls] == [False]
    finally:
        await sender.close()


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"),
    [(429, "3", 3.0), (502, None, DEFAULT_RETRY_AFTER_S), (504, "0.5", 0.5)],
)
async def test_slow_down_statuses_raise_rate_limited(
    status: int, retry_after: str | None, expected_wait: float
) -> None:
    sender = CallbackSender()
    try:
        async with CallbackReceiver(SECRET) as receiver:
            receiver.fail_next(1, status, retry_after)
            with pytest.raises(RateLimitedError) as caught:
                await sender.post(receiver.url, KEY, "msg_1", BODY)
            await sender.post(receiver.url, KEY, "msg_1", BODY)  # the next one goes through
            assert len(receiver.delivered) == 1
    finally:
        await sender.close()
    assert caught.value.retry_after == expected_wait


async def test_gone_is_permanent() -> None:
    sender = CallbackSender()
    try:
        async with CallbackReceiver(SECRET) as receiver:
            receiver.fail_next(1, 410)
            with pytest.raises(PermanentDeliveryError, match="410"):
                await sender.post(receiver.url, KEY, "msg_1", BODY)
    finally:
        await sender.close()


@pytest.mark.parametrize("status", [400, 404, 500, 503])
async def test_other_failures_are_retryable_platform_errors(status: int) -> None:
    sender = CallbackSender()
    try:
        async with CallbackReceiver(SECRET) as receiver:
            receiver.fail_next(1, status)
            with pytest.raises(PlatformError) as caught:
                await sender.post(receiver.url, KEY, "msg_1", BODY)
    finally:
        await sender.close()
    assert type(caught.value) is PlatformError
    assert str(status) in str(caught.value)


async def test_connection_refused_is_a_platform_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = CallbackSender()
    try:
        with pytest.raises(PlatformError, match="failed"):
            await sender.post(f"http://127.0.0.1:{port}/callback", KEY, "msg_1", BODY)
    finally:
        await sender.close()


async def test_timeout_is_a_platform_error() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response()

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sender = CallbackSender(timeout_s=0.2)
    try:
        with pytest.raises(PlatformError, match="timed out"):
            await sender.post(f"http://127.0.0.1:{runner.addresses[0][1]}/slow", KEY, "m", BODY)
    finally:
        await sender.close()
        await runner.cleanup()


def test_parse_retry_after() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    in_90s = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(in_90s, now=now.timestamp()) == 90.0
    assert parse_retry_after(None) == DEFAULT_RETRY_AFTER_S
    assert parse_retry_after("soon") == DEFAULT_RETRY_AFTER_S
    assert parse_retry_after("nan") == DEFAULT_RETRY_AFTER_S
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("99999999") == MAX_RETRY_AFTER_S
