"""HttpOrderSource against a local aiohttp fake of a shop's order API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from aiohttp import web

from core.knowledge.model import Identity, OrderStatus
from core.knowledge.orders import OrderSourceError
from core.knowledge.orders_http import HttpOrderSource

ORDER = {
    "order_no": "SO20261102-0042",
    "customer_id": "C1",
    "identities": [{"platform": "telegram", "user_id": "1001"}],
    "items": [
        {
            "sku": "JK-3002",
            "name": {"zh": "防风夹克", "en": "Windbreaker"},
            "size": "M",
            "quantity": 1,
            "unit_price": "299.00",
        }
    ],
    "status": "shipped",
    "placed": "2026-11-02",
    "shipped": "2026-11-03",
    "carrier": "SF Express",
    "tracking": "SF1",
    "total": "299.00",
    "extra_field": "ignored",
}


@dataclass
class FakeShop:
    """Scripted responses: each request pops the next (status, body) or uses the default."""

    script: list[tuple[int, object]] = field(default_factory=list)
    requests: list[web.Request] = field(default_factory=list)
    delay_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, body = self.script.pop(0) if self.script else (200, ORDER)
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)


@pytest.fixture
async def shop() -> AsyncIterator[tuple[FakeShop, str]]:
    fake = FakeShop()
    app = web.Application()
    app.router.add_get("/api/orders/{order_no}", fake.handle)
    app.router.add_get("/api/orders", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}/api"
    await runner.cleanup()


async def test_get_parses_an_order_and_sends_the_token(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    source = HttpOrderSource(url, token="t0ken", backoff_s=0.01)
    try:
        order = await source.get("so20261102-0042")
    finally:
        await source.close()
    assert order is not None
    assert order.status is OrderStatus.SHIPPED and order.total == Decimal("299.00")
    assert order.belongs_to(Identity("telegram", "1001"))
    assert fake.requests[0].path == "/api/orders/SO20261102-0042"
    assert fake.requests[0].headers["Authorization"] == "Bearer t0ken"


async def test_404_is_none(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    fake.script = [(404, {"error": "no such order"})]
    source = HttpOrderSource(url, backoff_s=0.01)
    try:
        assert await source.get("SO20261102-0042") is None
    finally:
        await source.close()


async def test_transient_errors_are_retried(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    fake.script = [(503, "busy"), (429, "slow down"), (200, ORDER)]
    source = HttpOrderSource(url, attempts=3, backoff_s=0.01)
    try:
        assert (await source.get("SO20261102-0042")) is not None
    finally:
        await source.close()
    assert len(fake.requests) == 3


async def test_gives_up_with_a_typed_error(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    fake.script = [(500, "boom")] * 5
    source = HttpOrderSource(url, attempts=2, backoff_s=0.01)
    try:
        with pytest.raises(OrderSourceError, match="after 2 attempts"):
            await source.get("SO20261102-0042")
    finally:
        await source.close()
    assert len(fake.requests) == 2


async def test_timeout_is_retried_then_fails(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    fake.delay_s = 0.5
    source = HttpOrderSource(url, timeout_s=0.05, attempts=2, backoff_s=0.01)
    try:
        with pytest.raises(OrderSourceError):
            await source.get("SO20261102-0042")
    finally:
        await source.close()
    assert len(fake.requests) == 2


async def test_client_errors_fail_at_once(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    fake.script = [(401, "who are you")]
    source = HttpOrderSource(url, attempts=3, backoff_s=0.01)
    try:
        with pytest.raises(OrderSourceError, match="401"):
            await source.get("SO20261102-0042")
    finally:
        await source.close()
    assert len(fake.requests) == 1


async def test_invalid_payload_is_a_typed_error(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    fake.script = [(200, {"order_no": "SO1"})]
    source = HttpOrderSource(url, backoff_s=0.01)
    try:
        with pytest.raises(OrderSourceError, match="invalid order"):
            await source.get("SO20261102-0042")
    finally:
        await source.close()


async def test_list_for_passes_the_identity(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    fake.script = [(200, {"orders": [ORDER]})]
    source = HttpOrderSource(url, backoff_s=0.01)
    try:
        orders = await source.list_for("webhook:demo", "cust-7788")
    finally:
        await source.close()
    assert [o.order_no for o in orders] == ["SO20261102-0042"]
    assert dict(fake.requests[0].query) == {"platform": "webhook:demo", "user_id": "cust-7788"}


async def test_text_never_reaches_the_url_path(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    source = HttpOrderSource(url, backoff_s=0.01)
    try:
        assert await source.get("../admin?x=1") is None
    finally:
        await source.close()
    assert fake.requests == []


async def test_format_two_fields_come_through(shop: tuple[FakeShop, str]) -> None:
    fake, url = shop
    refunded = ORDER | {
        "order_no": "WX-2026-001011",
        "status": "refunded",
        "ship_by": "2026-11-04",
        "items": [
            {"sku": "MC-SNOW-MG", "name": "Snow-skin Mooncakes", "variant": {"zh": "芒果", "en": "mango"},
             "quantity": 2, "unit_price": "138.00"}
        ],
        "refund": {"status": "refunded", "amount": "78.00", "date": "2026-11-06", "reason": "broken"},
    }  # fmt: skip
    fake.script = [(200, refunded)]
    source = HttpOrderSource(url, backoff_s=0.01)
    try:
        order = await source.get("WX-2026-001011")
    finally:
        await source.close()
    assert order is not None and order.ship_by is not None and order.ship_by.day == 4
    assert order.items[0].variant is not None and order.items[0].variant.zh == "芒果"
    assert order.refund is not None and order.refund.amount == Decimal("78.00")
    assert order.refund.reason is not None and order.refund.reason.en == "broken"
