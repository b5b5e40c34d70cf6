"""Grounding: every price, date, order number, tracking number, size and stock count in an
answer must come from the facts or the conversation; each one that does not lowers confidence."""

from __future__ import annotations

import pytest

from core.knowledge.grounding import Evidence, check_grounding

FACTS = Evidence(
    [
        "防风夹克（JK-3002）原价¥299.00，今天到手价¥239.20。M码有货，库存9件。",
        "Order SO20261118-0107 shipped on 2026-11-19 by SF Express, tracking number SF1418827364509.",
    ]
)


def test_grounded_answer_keeps_full_confidence() -> None:
    report = check_grounding("防风夹克现在239.20元（原价299元），M码还有9件。", FACTS)
    assert {c.kind for c in report.claims} == {"price", "stock", "size"}
    assert report.ungrounded == ()
    component = report.component()
    assert component.name == "grounding" and component.value == 1.0


def test_ungrounded_price_lowers_confidence_with_a_reason() -> None:
    report = check_grounding("The jacket costs ¥199 today.", FACTS)
    assert [c.text for c in report.ungrounded] == ["¥199"]
    component = report.component(penalty=0.5)
    assert component.value == 0.5
    assert "price '¥199'" in component.detail
    assert report.reasons() == ("price '¥199' is not in the facts or the conversation",)


def test_each_ungrounded_fact_costs_more() -> None:
    report = check_grounding(
        "Your order SO20261118-0108 shipped Nov 20, tracking SF999999999999.", FACTS
    )
    assert sorted(c.kind for c in report.ungrounded) == ["date", "order_number", "tracking"]
    assert report.component(penalty=0.5).value == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        "您的订单已于11月19日发货",
        "It shipped on November 19, 2026.",
        "shipped 2026/11/19",
        "单号SF1418827364509",
        "Order SO20261118-0107",
    ],
)
def test_dates_and_codes_in_other_formats_are_grounded(answer: str) -> None:
    assert check_grounding(answer, FACTS).ungrounded == ()


def test_wrong_year_is_ungrounded() -> None:
    assert check_grounding("shipped on 2025-11-19", FACTS).ungrounded


def test_stock_count_must_match() -> None:
    assert [c.kind for c in check_grounding("M码还有12件", FACTS).ungrounded] == ["stock"]


def test_conversation_counts_as_evidence() -> None:
    evidence = Evidence(["客户：我买的时候是¥188"])
    assert check_grounding("您说购买时是188元", evidence).ungrounded == ()


def test_no_claims_no_penalty() -> None:
    report = check_grounding("Happy to help!", FACTS)
    assert report.claims == () and report.component().value == 1.0
