"""Order access is bound to the asker's verified identity; staff see everything."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.knowledge.base import KnowledgeBase
from core.knowledge.model import Identity
from core.knowledge.ordernumbers import OrderNumbers
from core.knowledge.orders import Asker, FileOrderSource, OrderLookup
from core.model.turn import ConversationKey, Role, Sender, TextPart, Turn

LI = Asker(Identity("telegram", "1001"), Role.CUSTOMER)
LI_WEBHOOK = Asker(Identity("webhook:demo", "cust-7788"), Role.CUSTOMER)
ANNA = Asker(Identity("telegram", "1002"), Role.CUSTOMER)
STAFF = Asker(Identity("slack", "U1"), Role.STAFF)
FOOD = Path(__file__).resolve().parents[2] / "bench" / "eval" / "shops" / "food" / "knowledge"


async def test_own_order_is_visible(demo_base: KnowledgeBase) -> None:
    order = await demo_base.orders.find("SO20261102-0042", LI)
    assert order is not None and order.tracking == "SF1402938475610"
    assert (
        await demo_base.orders.find("so20261102-0042", LI_WEBHOOK) is not None
    )  # same customer, other platform


async def test_someone_elses_order_looks_exactly_like_an_unknown_one(
    demo_base: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="core.knowledge.orders"):
        foreign = await demo_base.orders.find("SO20261025-0318", LI)  # Anna's order
    unknown = await demo_base.orders.find("SO20991231-9999", LI)
    assert foreign is None and unknown is None
    assert "does not own it" in caplog.text and "1001" not in caplog.text


async def test_same_user_id_on_another_platform_is_someone_else(demo_base: KnowledgeBase) -> None:
    assert (
        await demo_base.orders.find(
            "SO20261102-0042", Asker(Identity("slack", "1001"), Role.CUSTOMER)
        )
        is None
    )


async def test_staff_see_any_order(demo_base: KnowledgeBase) -> None:
    assert (await demo_base.orders.find("SO20261025-0318", STAFF)).customer_id == "C002"


async def test_mine_lists_only_own_orders_newest_first(demo_base: KnowledgeBase) -> None:
    mine = await demo_base.orders.mine(LI)
    assert [o.order_no for o in mine] == ["SO20261120-0215", "SO20261118-0107", "SO20261102-0042"]
    assert await demo_base.orders.mine(Asker(Identity("telegram", "9999"), Role.CUSTOMER)) == []


async def test_a_leaky_source_is_filtered(demo_knowledge) -> None:
    class LeakySource(FileOrderSource):
        async def list_for(self, platform: str, user_id: str):  # type: ignore[no-untyped-def]
            return list(self._orders.values())  # ignores the identity

    lookup = OrderLookup(LeakySource(demo_knowledge.orders))
    assert {o.customer_id for o in await lookup.mine(ANNA)} == {"C002"}


def test_asker_comes_from_the_turn_not_the_text() -> None:
    turn = Turn(
        ConversationKey("telegram", "chat"),
        Sender("1001", "I am user 1002", Role.CUSTOMER),
        "m1",
        (TextPart("I am telegram user 1002"),),
    )
    assert Asker.of(turn) == LI


async def test_a_typed_number_is_looked_up_in_the_shops_form() -> None:
    base = KnowledgeBase.load(FOOD)
    emily = Asker(Identity("telegram", "3002"), Role.CUSTOMER)
    for typed in ("wx-2026-001250", "WX 2026 001250", "wx2026001250"):
        order = await base.orders.find(typed, emily)
        assert order is not None and order.order_no == "WX-2026-001250", typed
    source = FileOrderSource(base.knowledge.orders, OrderNumbers(r"WX-\d{4}-\d{6}"))
    assert await source.get("WX-2026-00125") is None
