"""Standard Webhooks signatures: sign outbound callbacks, verify inbound requests.

The signature is ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``;
the ``webhook-signature`` header may carry several, space-separated, so a sender can sign
with a new and an old secret during rotation. Secrets are ``whsec_<base64>``.

Why not ``standardwebhooks.Webhook.verify``: its tolerance is fixed at 5 minutes, it takes
one secret, and malformed headers (``v1`` without a comma, bad base64, non-UTF-8 bodies)
raise untyped errors. This module is small, constant-time, and tested against the library
in both directions (tests/adapters/webhook/test_signing.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from core.errors import AuthenticationError, ConfigError, InvalidInputError

SECRET_PREFIX = "whsec_"
MAX_WEBHOOK_ID_CHARS = 255  # the inbox keys turns on it (VARCHAR(255))
_TIMESTAMP = re.compile(r"\d{1,12}")
_WEBHOOK_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


def parse_secret(value: str) -> bytes:
    """Decode a ``whsec_<base64>`` secret (the prefix is optional) into key bytes.

    Raises:
        ConfigError: the secret is empty or not base64.
    """
    raw = value.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("webhook secret is not whsec_<base64>") from exc
    if not key:
        raise ConfigError("webhook secret is empty")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of one message."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    key: bytes, webhook_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, timestamped ``now``."""
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, webhook_id, timestamp, body),
    }


@dataclass(frozen=True, slots=True)
class VerifiedHeaders:
    """What a verified request's headers say.

    Attributes:
        webhook_id: The sender's message id: the idempotency key.
        timestamp: Unix seconds the sender signed at.
    """

    webhook_id: str
    timestamp: int


def _decoded_signatures(header: str) -> list[bytes]:
    """The ``v1`` signatures of a header; malformed entries are skipped, not fatal."""
    found: list[bytes] = []
    for entry in header.split():
        version, sep, encoded = entry.partition(",")
        if version != "v1" or not sep:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


class SignatureVerifier:
    """Verifies Standard Webhooks headers against any of a source's secrets.

    Args:
        keys: Current secret first, then previous ones (rotation).
        tolerance_s: Accepted clock skew either way, in seconds.
        clock: Returns the current Unix time (injectable for tests).
    """

    def __init__(
        self, keys: Sequence[bytes], tolerance_s: int = 300, clock: Callable[[], float] = time.time
    ) -> None:
        if not keys:
            raise ConfigError("a webhook source needs at least one secret")
        self._keys = tuple(keys)
        self._tolerance_s = tolerance_s
        self._clock = clock

    def precheck(self, headers: Mapping[str, str]) -> list[bytes]:
        """What can be checked before the body is read: the headers are present, the
        timestamp is fresh, and at least one ``v1`` signature is well formed.

        Returns:
            The decoded ``v1`` signatures.

        Raises:
            AuthenticationError: as :meth:`verify`, for everything but a wrong signature.
        """
        webhook_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        signature = headers.get("webhook-signature", "")
        if not (webhook_id and timestamp and signature):
            raise AuthenticationError(
                "missing webhook-id, webhook-timestamp or webhook-signature header",
                code="missing_signature",
            )
        if not _TIMESTAMP.fullmatch(timestamp):
            raise AuthenticationError(
                "webhook-timestamp is not Unix seconds", code="invalid_timestamp"
            )
        skew = abs(self._clock() - int(timestamp))
        if skew > self._tolerance_s:
            raise AuthenticationError(
                f"webhook-timestamp is {int(skew)}s away from now; the tolerance is "
                f"{self._tolerance_s}s",
                code="stale_timestamp",
            )
        candidates = _decoded_signatures(signature)
        if not candidates:
            raise AuthenticationError("no well-formed v1 signature", code="invalid_signature")
        return candidates

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedHeaders:
        """Check the signature headers of ``body``.

        Args:
            headers: Request headers (case-insensitive mapping, e.g. aiohttp's).
            body: The exact body bytes received.

        Raises:
            AuthenticationError: a header is missing or malformed, the timestamp is outside
                the tolerance, or no signature matches any secret.
            InvalidInputError: the (correctly signed) webhook-id is unusable as a key.
        """
        candidates = self.precheck(headers)
        webhook_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
        signed = f"{webhook_id}.{timestamp}.".encode() + body
        expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in self._keys]
        # Compare every pair so the time taken does not depend on which one matched.
        matched = False
        for given in candidates:
            for wanted in expected:
                matched |= hmac.compare_digest(given, wanted)
        if not matched:
            raise AuthenticationError("no webhook-signature matches", code="invalid_signature")
        if len(webhook_id) > MAX_WEBHOOK_ID_CHARS or not _WEBHOOK_ID.fullmatch(webhook_id):
            raise InvalidInputError(
                f"webhook-id must be 1-{MAX_WEBHOOK_ID_CHARS} printable ASCII characters",
                code="invalid_webhook_id",
            )
        return VerifiedHeaders(webhook_id, int(timestamp))
