"""Order numbers in the shop's configured format (core/knowledge/ordermatch.py)."""

from __future__ import annotations

import pytest

from core.knowledge.ordermatch import OrderNumberReader

VB = OrderNumberReader(r"VB\d{8}")
WX = OrderNumberReader(r"WX-\d{4}-\d{6}")
SO = OrderNumberReader(r"SO\d{8}-\d{4}")


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
    reader: OrderNumberReader, text: str, found: list[str]
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
def test_nothing_is_borrowed_from_the_next_word(reader: OrderNumberReader, text: str) -> None:
    assert reader.find(text) == []


def test_a_pattern_beyond_letters_and_digits_still_finds_exact_numbers() -> None:
    reader = OrderNumberReader(r"(?:A|B)\d{3}")
    assert reader.find("order B456 and C789") == ["B456"]
