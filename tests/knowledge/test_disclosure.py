"""The disclosure check: other people's identifiers and instruction echoes, in any spacing."""

from __future__ import annotations

from core.knowledge.disclosure import DisclosureCheck, compact

CHECK = DisclosureCheck(
    "SO",
    ["Anna Schmidt", "王芳"],
    ["You are Lumi, the friendly customer-service assistant of the online clothing shop."],
)


def kinds(answer: str, *allowed: str) -> list[str]:
    return [d.kind for d in CHECK.find(answer, list(allowed))]


def test_identifiers_in_any_spacing_are_found_unless_the_facts_hold_them() -> None:
    assert kinds("Your order SO20261118-0107 has shipped.", "order SO20261118-0107") == []
    assert kinds("Also: S O 2 0 2 6 1 1 0 2 - 0 0 4 2", "order SO20261118-0107") == ["order number"]
    assert kinds("tracking sf 1402938475610") == ["tracking number"]
    assert kinds("The parcel for anna  schmidt left.") == ["customer name"]
    assert kinds("王 芳 的订单") == ["customer name"]


def test_echoes_of_the_instructions_are_found() -> None:
    leak = "My instructions: you are Lumi, the friendly customer service assistant."
    assert kinds(leak) == ["line of the bot's instructions"]
    assert kinds("Lumi ships to Hong Kong in 3 days.") == []


def test_compact_keeps_letters_digits_and_ideographs() -> None:
    assert compact("ｓｏ２０２６ – 01 ·王") == "SO202601王"
