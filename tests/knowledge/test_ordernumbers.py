"""Order numbers from typed text and from normalised OCR text of screenshots, in the fixed
form and in a shop's own form (shop.yaml ``orders.number_pattern``)."""

from __future__ import annotations

import pytest

from core.knowledge.ordernumbers import OrderNumbers, find_order_numbers
from core.media.ocr import normalise_ocr_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的订单SO20261102-0042到哪了", ["SO20261102-0042"]),
        ("OrderNo.：SO20261102-0042", ["SO20261102-0042"]),  # RapidOCR: no spaces, full-width colon
        ("订单编号：SO20261102一0042", ["SO20261102-0042"]),  # the CJK "one" read for a dash
        ("Ordernumber:S020261116-0451", ["SO20261116-0451"]),  # zero read for the letter O
        ("订单号:S0202611O2—0042", ["SO20261102-0042"]),  # O for zero inside the digits, em dash
        ("so 20261102 - 0042 和 SO20261118-0107", ["SO20261102-0042", "SO20261118-0107"]),
        ("SO202611020042", ["SO20261102-0042"]),  # dash dropped
        ("Order #SO20261102-0042.", ["SO20261102-0042"]),
        ("OrderNoSO20261102-0042", ["SO20261102-0042"]),  # letters glued in front
        ("SO20261102-0042 SO20261102-0042", ["SO20261102-0042"]),  # deduplicated
    ],
)
def test_found(text: str, expected: list[str]) -> None:
    assert find_order_numbers(text) == expected


@pytest.mark.parametrize(
    "text", ["SO20261102-004", "SO20261102-00423", "订单20261102-0042", "SF1418827364509", ""]
)
def test_not_found(text: str) -> None:
    assert find_order_numbers(text) == []


def test_after_the_ocr_readers_normalisation() -> None:
    raw = "订单详情\n订单编号：ＳＯ２０２６１１１８－０１０７\n实付款：￥399.00"
    assert find_order_numbers(normalise_ocr_text(raw)) == ["SO20261118-0107"]


def test_other_prefix() -> None:
    assert find_order_numbers("order AB20261102-0042", prefix="AB") == ["AB20261102-0042"]


# --- a shop's own number pattern (shop.yaml orders.number_pattern) ------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        (r"WX-\d{4}-\d{6}", "wx-2026-001250 when will it ship?", ["WX-2026-001250"]),
        (r"WX-\d{4}-\d{6}", "WX 2026 001233 到哪里了", ["WX-2026-001233"]),
        (r"WX-\d{4}-\d{6}", "我的订单WX-2026-001204到哪了", ["WX-2026-001204"]),
        (r"WX-\d{4}-\d{6}", "订单 WX－2O26－001204", ["WX-2026-001204"]),  # OCR: full width, O
        (r"VB\d{8}", "what's the status of vb26061902", ["VB26061902"]),
        (r"VB\d{8}", "Where is my order VB 26061617?", ["VB26061617"]),
        (r"VB\d{8}", "订单号VB26061999怎么查不到", ["VB26061999"]),
        (r"VB\d{8}", "VB26061617 x2 and VB2606161", ["VB26061617"]),  # too short: not a number
        (
            r"SO\d{8}-\d{4}",
            "SO 20261102 - 0042, so20261118-0107",
            ["SO20261102-0042", "SO20261118-0107"],
        ),
        (r"VB\d{8}", "no number here, 12345678", []),
        (r"VB\d{8}", "was VB-26061902 delivered?", ["VB26061902"]),  # a dash after the letters
        (r"VB\d{8}", "VB–26061902", ["VB26061902"]),
    ],
)
def test_numbers_in_the_shops_own_form(pattern: str, text: str, found: list[str]) -> None:
    assert OrderNumbers(pattern).find(text) == found


def test_lookup_normalises_a_typed_number() -> None:
    numbers = OrderNumbers(r"WX-\d{4}-\d{6}")
    assert numbers.canonical(" wx 2026 001250 ") == "WX-2026-001250"
    assert numbers.canonical("WX-2026-00125") is None


# --- the shop's own form, read tolerantly (lower case, spaces, dashes, OCR slips) ---------

VB = OrderNumbers(r"VB\d{8}")
WX = OrderNumbers(r"WX-\d{4}-\d{6}")
SO = OrderNumbers(r"SO\d{8}-\d{4}")


@pytest.mark.parametrize(
    ("reader", "text", "found"),
    [
        (VB, "what's the status of vb26061902", ["VB26061902"]),
        (VB, "Where is my order VB 26061617?", ["VB26061617"]),
        (VB, "vb26060821退款到账了吗", ["VB26060821"]),
        (VB, "OrderNo.:VB26062O11", ["VB26062011"]),  # OCR read 0 as O
        (VB, "VB26061805\nSF Express", ["VB26061805"]),
        (WX, "wx-2026-001250 when will it ship", ["WX-2026-001250"]),
        (WX, "OrderWX—2026—001178\nTotal", ["WX-2026-001178"]),  # glued label, long dashes
        (WX, "WX 2026 001178", ["WX-2026-001178"]),
        (SO, "SO 20261102 - 0042", ["SO20261102-0042"]),
        (SO, "S020261102-0042", ["SO20261102-0042"]),
        (SO, "SO20261102-0042 and so20261118-0107", ["SO20261102-0042", "SO20261118-0107"]),
    ],
)
def test_numbers_are_read_in_the_shops_format(
    reader: OrderNumbers, text: str, found: list[str]
) -> None:
    assert reader.find(text) == found


@pytest.mark.parametrize(
    ("reader", "text"),
    [
        (VB, "VB2606190 Sent"),  # one digit short: the next word's S is not a 5
        (VB, "VB2606190\nSB"),
        (VB, "VB260619021"),  # too long
        (WX, "WX-2026-00117"),
        (SO, "XX20261102-0042"),
    ],
)
def test_nothing_is_borrowed_from_the_next_word(reader: OrderNumbers, text: str) -> None:
    assert reader.find(text) == []


def test_a_pattern_beyond_letters_and_digits_still_finds_exact_numbers() -> None:
    reader = OrderNumbers(r"(?:A|B)\d{3}")
    assert reader.find("order B456 and C789") == ["B456"]


PD = OrderNumbers(r"PD\d{6}-[A-Z]{2}")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("pd261112-mr when will it ship?", ["PD261112-MR"]),  # a letter class, lower case
        ("PD261102-CV 退货进度怎么样了", ["PD261102-CV"]),
        ("PD261105LE", ["PD261105-LE"]),  # the dash restored where the pattern has it
        ("订单号：PD26I110-KX", ["PD261110-KX"]),  # OCR's I is a digit only where one belongs
        ("PD261110-K0", []),  # ...and a digit is not a letter where the pattern wants one
    ],
)
def test_patterns_with_character_classes_are_read(text: str, found: list[str]) -> None:
    assert PD.find(text) == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("is pd 261120 qa out for delivery", ["PD261120-QA"]),  # typed with spaces
        ("PD 261120 - QA", ["PD261120-QA"]),
        ("PD 261120 QA7", []),  # the piece runs past the number
    ],
)
def test_letters_typed_apart_belong_where_the_pattern_wants_letters(
    text: str, found: list[str]
) -> None:
    assert PD.find(text) == found
    assert PD.canonical("pd 261120 qa") == "PD261120-QA"
