"""Standard Webhooks signing and verification, and interop with the reference library."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from adapters.webhook.signing import (
    SignatureVerifier,
    parse_secret,
    sign,
    signed_headers,
)
from core.errors import AuthenticationError, ConfigError, InvalidInputError
from tests.adapters.webhook.conftest import OLD_SECRET, OTHER_SECRET, SECRET

BODY = b'{"conversation_id":"c","user":{"id":"u"},"text":"\xe4\xbd\xa0\xe5\xa5\xbd"}'
NOW = 1_700_000_000


def verifier(*secrets: str, tolerance_s: int = 300, now: float = NOW) -> SignatureVerifier:
    return SignatureVerifier([parse_secret(s) for s in secrets], tolerance_s, clock=lambda: now)


def library_headers(secret: str, webhook_id: str, body: bytes, at: int) -> dict[str, str]:
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def test_signature_equals_library_signature() -> None:
    ours = sign(parse_secret(SECRET), "msg_1", NOW, BODY)
    theirs = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(NOW, UTC), BODY.decode())
    assert ours == theirs


def test_library_verifies_our_headers() -> None:
    headers = signed_headers(parse_secret(SECRET), "msg_2", BODY)
    # The library checks its own fixed ±5 min window against the real clock.
    assert Webhook(SECRET).verify(BODY, headers) == {
        "conversation_id": "c",
        "user": {"id": "u"},
        "text": "你好",
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(BODY, headers)


def test_we_verify_library_headers() -> None:
    headers = library_headers(SECRET, "msg_3", BODY, NOW)
    verified = verifier(SECRET).verify(headers, BODY)
    assert (verified.webhook_id, verified.timestamp) == ("msg_3", NOW)


def test_any_of_several_signatures_may_match() -> None:
    good = sign(parse_secret(SECRET), "m", NOW, BODY)
    headers = {"webhook-id": "m", "webhook-timestamp": str(NOW)}
    bogus = "v1," + base64.b64encode(b"x" * 32).decode()
    for header in (f"{bogus} {good}", f"v2,abc {good}", f"garbage {good}", f"{good} v1,@@@"):
        assert verifier(SECRET).verify({**headers, "webhook-signature": header}, BODY)


def test_rotation_accepts_previous_secret_only_when_configured() -> None:
    headers = library_headers(OLD_SECRET, "m", BODY, NOW)
    assert verifier(SECRET, OLD_SECRET).verify(headers, BODY).webhook_id == "m"
    with pytest.raises(AuthenticationError) as caught:
        verifier(SECRET).verify(headers, BODY)
    assert caught.value.code == "invalid_signature"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # body changed
        lambda h, b: ({**h, "webhook-id": "other"}, b),  # id changed
        lambda h, b: ({**h, "webhook-timestamp": str(NOW + 1)}, b),  # timestamp changed
        lambda h, b: ({**h, "webhook-signature": "v1,"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1"}, b),  # no comma: the library crashes here
        lambda h, b: ({**h, "webhook-signature": "v1,!!notbase64!!"}, b),
        lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1", "v2")}, b),
    ],
)
def test_tampering_is_rejected(tamper) -> None:  # type: ignore[no-untyped-def]
    headers, body = tamper(library_headers(SECRET, "m", BODY, NOW), BODY)
    with pytest.raises(AuthenticationError) as caught:
        verifier(SECRET).verify(headers, body)
    assert caught.value.code == "invalid_signature"
    assert caught.value.http_status == 401


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header(missing: str) -> None:
    headers = library_headers(SECRET, "m", BODY, NOW)
    del headers[missing]
    with pytest.raises(AuthenticationError) as caught:
        verifier(SECRET).verify(headers, BODY)
    assert caught.value.code == "missing_signature"


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_timestamp_outside_tolerance(offset: int) -> None:
    headers = library_headers(SECRET, "m", BODY, NOW + offset)
    with pytest.raises(AuthenticationError) as caught:
        verifier(SECRET).verify(headers, BODY)
    assert caught.value.code == "stale_timestamp"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_inside_tolerance(offset: int) -> None:
    headers = library_headers(SECRET, "m", BODY, NOW + offset)
    assert verifier(SECRET).verify(headers, BODY).timestamp == NOW + offset


def test_tolerance_is_configurable() -> None:
    headers = library_headers(SECRET, "m", BODY, NOW - 60)
    with pytest.raises(AuthenticationError, match="tolerance is 30s"):
        verifier(SECRET, tolerance_s=30).verify(headers, BODY)


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5e9", "-5", "1700000000.5", "9" * 13])
def test_malformed_timestamp(timestamp: str) -> None:
    headers = {**library_headers(SECRET, "m", BODY, NOW), "webhook-timestamp": timestamp}
    with pytest.raises(AuthenticationError):
        verifier(SECRET).verify(headers, BODY)


@pytest.mark.parametrize("webhook_id", ["has space", "x" * 256, "tab\tid", "ünïcode"])
def test_unusable_webhook_id_is_invalid_input_after_a_valid_signature(webhook_id: str) -> None:
    timestamp = str(NOW)
    signature = sign(parse_secret(SECRET), webhook_id, timestamp, BODY)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    with pytest.raises(InvalidInputError) as caught:
        verifier(SECRET).verify(headers, BODY)
    assert caught.value.code == "invalid_webhook_id"


def test_non_utf8_body_is_just_a_mismatch() -> None:
    headers = library_headers(SECRET, "m", BODY, NOW)
    with pytest.raises(AuthenticationError):
        verifier(SECRET).verify(headers, b"\xff\xfe" + BODY)


def test_parse_secret() -> None:
    raw = b"0123456789abcdef"
    encoded = base64.b64encode(raw).decode()
    assert parse_secret("whsec_" + encoded) == raw
    assert parse_secret(encoded) == raw  # prefix optional
    assert parse_secret("whsec_" + encoded.rstrip("=")) == raw  # unpadded
    for bad in ("whsec_", "whsec_!!!", ""):
        with pytest.raises(ConfigError):
            parse_secret(bad)


def test_verifier_needs_a_secret() -> None:
    with pytest.raises(ConfigError):
        SignatureVerifier([])


def test_signed_headers_use_current_time() -> None:
    headers = signed_headers(b"k", "m", b"{}")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-signature"] == sign(b"k", "m", headers["webhook-timestamp"], b"{}")
