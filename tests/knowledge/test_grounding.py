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


SPEC_FACTS = Evidence(
    [
        "Pebble Mini Speaker (PEBBLE-MINI-SPEAKER): Waterproof rating: IP67; Battery life: 12 h;"
        " Battery capacity: 2000mAh; Weight: 260 g; 1-year warranty.",
        "Summit Tent: Season rating: 3-season; Comfort rating: -5°C.",
    ],
    spec_labels=["Waterproof rating", "Battery life", "Season rating", "Comfort rating"],
)


@pytest.mark.parametrize(
    "answer",
    [
        "The Pebble is IP67 and plays for 12 hours on its 2000 mAh battery.",
        "Pebble音箱续航12小时，防水等级IP67。",
        "It weighs 260 g and has a 1 year warranty.",
        "The Summit Tent is a 3-season tent, comfortable to -5°C.",
        "Its waterproof rating is IP67.",
    ],
)
def test_specs_stated_as_in_the_facts_are_grounded(answer: str) -> None:
    report = check_grounding(answer, SPEC_FACTS)
    assert report.ungrounded == (), report.ungrounded


@pytest.mark.parametrize(
    ("answer", "claim"),
    [
        ("The Pebble has a waterproof rating of 1.", "waterproof rating"),
        ("It is rated IPX4.", "ipx4"),
        ("The battery lasts 20 hours.", "20 hours"),
        ("The Summit Tent is a 4-season tent.", "4-season"),
        ("Its comfort rating is -10°C.", "-10°c"),
    ],
)
def test_a_spec_not_in_the_facts_is_ungrounded(answer: str, claim: str) -> None:
    report = check_grounding(answer, SPEC_FACTS)
    assert [c.kind for c in report.ungrounded] == ["spec"] * len(report.ungrounded)
    assert any(claim in c.text for c in report.ungrounded), report.claims


def test_stock_counts_are_not_read_as_inches() -> None:
    report = check_grounding("M: 9 in stock", Evidence(["M: 9 in stock"]))
    assert report.ungrounded == () and "spec" not in {c.kind for c in report.claims}
