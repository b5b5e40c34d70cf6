"""An :class:`~core.knowledge.orders.OrderSource` backed by a shop's own HTTP API.

Contract (docs/knowledge-format.md, "Order API"):

- ``GET {base}/orders/{order_no}`` -> 200 with one order object, or 404.
- ``GET {base}/orders?platform=telegram&user_id=1001`` -> 200 ``{"orders": [...]}``.

Each order object carries the customer's platform ``identities``; kefu checks ownership
itself (:class:`~core.knowledge.orders.OrderLookup`) rather than trusting a filter.
Requests time out, and connection errors, timeouts, 429 and 5xx are retried with
exponential backoff (tenacity); other answers fail at once with ``OrderSourceError``.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from core.knowledge.format import LocalizedIn
from core.knowledge.model import (
    Identity,
    Localized,
    Order,
    OrderItem,
    OrderStatus,
    Refund,
    RefundStatus,
)
from core.knowledge.orders import OrderSourceError

ORDER_NO = re.compile(r"^[A-Z0-9-]{1,40}$")


class _Retryable(Exception):
    """A transient failure worth another try."""


def _text(value: LocalizedIn | str) -> Localized:
    return value.value() if isinstance(value, LocalizedIn) else Localized(value, value)


class IdentityPayload(BaseModel):
    platform: str
    user_id: str


class ItemPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sku: str
    name: LocalizedIn | str
    size: str = ""
    variant: LocalizedIn | str | None = None  # the variant's label: "M / white", "100 g"
    quantity: int = Field(ge=1)
    unit_price: Decimal


class RefundPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: RefundStatus
    amount: Decimal
    date: date
    reason: LocalizedIn | str | None = None


class OrderPayload(BaseModel):
    """One order as the shop's API returns it (the I/O edge)."""

    model_config = ConfigDict(extra="ignore")
    order_no: str
    customer_id: str
    identities: list[IdentityPayload]
    items: list[ItemPayload]
    status: OrderStatus
    placed: date
    total: Decimal
    shipped: date | None = None
    delivered: date | None = None
    estimated_delivery: date | None = None
    carrier: str = ""
    tracking: str = ""
    ship_by: date | None = None
    refund: RefundPayload | None = None

    def to_order(self) -> Order:
        items = tuple(
            OrderItem(
                i.sku,
                _text(i.name),
                i.size,
                i.quantity,
                i.unit_price,
                variant=_text(i.variant) if i.variant is not None else None,
            )
            for i in self.items
        )
        return Order(
            order_no=self.order_no.upper(),
            customer_id=self.customer_id,
            identities=frozenset(Identity(i.platform, i.user_id) for i in self.identities),
            items=items,
            status=self.status,
            placed=self.placed,
            total=self.total,
            shipped=self.shipped,
            delivered=self.delivered,
            carrier=self.carrier,
            tracking=self.tracking,
            estimated_delivery=self.estimated_delivery,
            ship_by=self.ship_by,
            refund=self._refund(),
        )

    def _refund(self) -> Refund | None:
        r = self.refund
        if r is None:
            return None
        return Refund(r.status, r.amount, r.date, _text(r.reason) if r.reason else None)


class OrderListPayload(BaseModel):
    orders: list[OrderPayload]


class HttpOrderSource:
    """Reads orders from the shop's API.

    Args:
        base_url: e.g. ``https://shop.example/api``.
        token: Sent as ``Authorization: Bearer <token>`` when set (from the environment).
        timeout_s: Per-request total timeout.
        attempts: Tries per call, including the first.
        backoff_s: First retry delay; doubles each time.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_s: float = 0.2,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._backoff = backoff_s
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def _fetch_once(self, path: str, params: dict[str, str] | None) -> Any:
        try:
            async with self._client().get(f"{self._base}{path}", params=params) as response:
                if response.status == 404:
                    return None
                if response.status == 429 or response.status >= 500:
                    raise _Retryable(f"order API answered {response.status}")
                if response.status != 200:
                    raise OrderSourceError(f"order API answered {response.status} for {path}")
                return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise _Retryable(f"order API request failed: {exc!r}") from exc

    async def _fetch(self, path: str, params: dict[str, str] | None = None) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=5),
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._fetch_once(path, params)
        except _Retryable as exc:
            raise OrderSourceError(
                f"order API unavailable after {self._attempts} attempts: {exc}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, order_no: str) -> Order | None:
        order_no = order_no.strip().upper()
        if not ORDER_NO.match(order_no):
            return None  # never put arbitrary text into the URL path
        data = await self._fetch(f"/orders/{order_no}")
        if data is None:
            return None
        try:
            return OrderPayload.model_validate(data).to_order()
        except ValidationError as exc:
            raise OrderSourceError(
                f"order API returned an invalid order: {exc.errors(include_url=False)[:3]}"
            ) from exc

    async def list_for(self, platform: str, user_id: str) -> list[Order]:
        data = await self._fetch("/orders", {"platform": platform, "user_id": user_id})
        if data is None:
            return []
        try:
            orders = [o.to_order() for o in OrderListPayload.model_validate(data).orders]
        except ValidationError as exc:
            raise OrderSourceError(
                f"order API returned an invalid order list: {exc.errors(include_url=False)[:3]}"
            ) from exc
        return sorted(orders, key=lambda o: (o.placed, o.order_no), reverse=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
