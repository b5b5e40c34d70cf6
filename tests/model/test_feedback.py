"""Ratings and the majority rating of an answer."""

from __future__ import annotations

from datetime import date

import pytest

from core.model.feedback import RatedAnswer, Rating
from core.model.turn import Command, ConversationKey, Sender, TextPart, Turn


def test_rating_of_a_command() -> None:
    assert Rating.of(Command.THUMBS_UP) is Rating.UP
    assert Rating.of(Command.THUMBS_DOWN) is Rating.DOWN
    with pytest.raises(ValueError):
        Rating.of(Command.HUMAN)


@pytest.mark.parametrize(
    ("ups", "downs", "rating"),
    [(("a",), (), Rating.UP), (("a",), ("b", "c"), Rating.DOWN), (("a",), ("b",), None)],
)
def test_majority(ups: tuple[str, ...], downs: tuple[str, ...], rating: Rating | None) -> None:
    turn = Turn(ConversationKey("slack", "D1"), Sender("U1"), "m", (TextPart("q"),))
    answer = RatedAnswer(1, turn, "a", None, (), ups, downs, date(2026, 1, 1))
    assert answer.rating is rating
