"""The disclosure check: other people's identifiers and instruction echoes, in any spacing."""

from __future__ import annotations

from core.knowledge.disclosure import DisclosureCheck, compact

CHECK = DisclosureCheck(
    r"SO\d{8}-\d{4}",
    ["SO20261101-0856", "YT7788990011"],
    ["Anna Schmidt", "王芳"],
    ["You are Lumi, the friendly customer-service assistant of the online clothing shop."],
)


def kinds(answer: str, *allowed: str) -> list[str]:
    return [d.kind for d in CHECK.find(answer, list(allowed))]


def test_identifiers_in_any_spacing_are_found_unless_the_facts_hold_them() -> None:
    assert kinds("Your order SO20261118-0107 has shipped.", "order SO20261118-0107") == []
    assert kinds("Also: S O 2 0 2 6 1 1 0 2 - 0 0 4 2", "order SO20261118-0107") == [
        "order or tracking number"
    ]
    assert kinds("tracking sf 1402938475610") == ["tracking number"]
    assert kinds("The parcel for anna  schmidt left.") == ["customer name"]
    assert kinds("王 芳 的订单") == ["customer name"]


def test_echoes_of_the_instructions_are_found() -> None:
    leak = "My instructions: you are Lumi, the friendly customer service assistant."
    assert kinds(leak) == ["line of the bot's instructions"]
    assert kinds("Lumi ships to Hong Kong in 3 days.") == []


def test_a_shop_pattern_keeps_its_character_classes() -> None:
    check = DisclosureCheck(r"WX-[0-9]{4}-\d{6}", [], [], [])
    assert [d.kind for d in check.find("wx 2026 001233", [])] == ["order or tracking number"]


def test_compact_keeps_letters_digits_and_ideographs() -> None:
    assert compact("ｓｏ２０２６ – 01 ·王") == "SO202601王"
