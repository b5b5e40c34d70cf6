"""Staff feedback on answers: a thumbs up or down, and an answer as the export reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from core.model.turn import Command, HistoryItem, Sender, Turn


class Rating(StrEnum):
    """A thumbs up or down."""

    UP = "up"
    DOWN = "down"

    @classmethod
    def of(cls, command: Command) -> Rating:
        """The rating a feedback command gives.

        Raises:
            ValueError: ``command`` is not a feedback command.
        """
        ratings = {Command.THUMBS_UP: cls.UP, Command.THUMBS_DOWN: cls.DOWN}
        if command not in ratings:
            raise ValueError(f"{command} is not a feedback command")
        return ratings[command]


class StoreOutcome(StrEnum):
    """What storing one click did."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # the same click again (a retried event)
    UNKNOWN_TURN = "unknown_turn"  # the rated turn does not exist


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """One click on a feedback button.

    Attributes:
        turn_id: The turn whose answer was rated.
        rating: Up or down.
        rater: Who clicked (verified by the platform).
        channel: Where the button was pressed (``"slack"``).
        click_id: The platform's id of the click: the dedupe key.
    """

    turn_id: int
    rating: Rating
    rater: Sender
    channel: str
    click_id: str


@dataclass(frozen=True, slots=True)
class AnswerDecision:
    """The decision-log entry of a rated answer."""

    kind: str
    confidence: float | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RatedAnswer:
    """An answer with its question, its decision and what staff said of it.

    Attributes:
        turn_id: The question's stored turn id.
        question: The question's turn (images included).
        answer: The answer that was sent ("" when none is stored).
        decision: The answer's decision-log entry, when one is stored.
        history: The conversation before the question, oldest first.
        ups: People whose latest click was a thumbs up.
        downs: People whose latest click was a thumbs down.
        day: The day the question was asked (promotions are dated).
    """

    turn_id: int
    question: Turn
    answer: str
    decision: AnswerDecision | None
    history: tuple[HistoryItem, ...]
    ups: tuple[str, ...]
    downs: tuple[str, ...]
    day: date

    @property
    def rating(self) -> Rating | None:
        """The majority's rating; None when the raters are split evenly."""
        if len(self.ups) == len(self.downs):
            return None
        return Rating.UP if len(self.ups) > len(self.downs) else Rating.DOWN
