"""Several questions in one message: split, answered each, sent together."""

from __future__ import annotations

from collections.abc import Sequence

from core.answering.bot import Fact
from core.knowledge.questions import answer_each, split_questions


def test_questions_are_split_at_question_marks_and_joining_words() -> None:
    assert split_questions("SSD什么时候有货？另外可以开发票吗") == [
        "SSD什么时候有货？",
        "可以开发票吗",
    ]
    assert split_questions("Do you ship abroad, and how long is the warranty?") == [
        "Do you ship abroad",
        "how long is the warranty?",
    ]


def test_one_question_about_two_products_is_not_split() -> None:
    text = "How much are the earbuds and the charger together?"
    assert split_questions(text) == [text]
    assert split_questions("I want three, mango. Total?") == ["I want three, mango. Total?"]


async def test_answers_are_joined_and_later_parts_see_the_earlier_ones() -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []

    async def one(part: str, earlier: Sequence[str]) -> tuple[str, tuple[Fact, ...]] | None:
        seen.append((part, tuple(earlier)))
        return f"answer to {part}", (Fact("faq:x", part),)

    joined = await answer_each(["a?", "b?"], one)
    assert joined is not None and joined[0] == "answer to a?\nanswer to b?"
    assert seen == [("a?", ()), ("b?", ("a?",))] and len(joined[1]) == 2


async def test_one_unanswered_part_leaves_the_message_to_the_whole_path() -> None:
    async def one(part: str, earlier: Sequence[str]) -> tuple[str, tuple[Fact, ...]] | None:
        return None if part == "b?" else ("yes", ())

    assert await answer_each(["a?", "b?"], one) is None
