"""Signed reply callbacks to a webhook source's ``callback_url``.

One POST per outbox row, signed with Standard Webhooks headers. The ``webhook-id`` is
``msg_<outbox_id>``: the same on every retry of a row, so receivers can dedupe. The
response status decides what the dispatcher does next:

* 2xx: delivered;
* 410 Gone: :class:`PermanentDeliveryError` (the endpoint is disabled; dead-letter);
* 429 / 502 / 504: :class:`RateLimitedError` honouring ``Retry-After``;
* anything else, a timeout or a network error: :class:`PlatformError` (retried on the
  adapter's schedule, then dead-lettered).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from adapters.webhook.signing import signed_headers
from core.errors import PermanentDeliveryError, PlatformError, RateLimitedError

SLOW_DOWN_STATUSES = frozenset({429, 502, 504})
DEFAULT_RETRY_AFTER_S = 5.0  # when a slow-down answer has no (valid) Retry-After
MAX_RETRY_AFTER_S = 36_000.0  # a receiver cannot park a reply for longer than 10 h


def parse_retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_S
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        seconds = (when - current).total_seconds()
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER_S
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class CallbackSender:
    """POSTs signed callbacks over one pooled HTTP session.

    Args:
        timeout_s: Time limit of one POST, connection included.
    """

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def post(self, url: str, key: bytes, webhook_id: str, body: bytes) -> None:
        """Send one signed callback.

        Raises:
            PermanentDeliveryError: the receiver answered 410 Gone.
            RateLimitedError: 429, 502 or 504; ``retry_after`` from the response.
            PlatformError: any other non-2xx status, a timeout or a network error.
        """
        headers = {"Content-Type": "application/json", **signed_headers(key, webhook_id, body)}
        try:
            async with self._client().post(url, data=body, headers=headers) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                detail = (await response.text(errors="replace"))[:200]
        except TimeoutError as exc:
            raise PlatformError(f"callback to {url} timed out") from exc
        except aiohttp.ClientError as exc:
            raise PlatformError(f"callback to {url} failed: {exc}") from exc
        if 200 <= status < 300:
            return
        if status == 410:
            raise PermanentDeliveryError(f"callback endpoint {url} is gone (410)")
        if status in SLOW_DOWN_STATUSES:
            raise RateLimitedError(
                f"callback endpoint {url} answered {status}",
                retry_after=parse_retry_after(retry_after),
            )
        raise PlatformError(f"callback endpoint {url} answered {status}: {detail}")
