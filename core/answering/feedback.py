"""A pressed thumbs up or down: stored with the rated turn and its decision, never answered.

The click arrives as a turn (``Command.THUMBS_UP`` / ``THUMBS_DOWN``, the rated turn's id in
``command_arg``) through the durable inbox like any button; answering it means storing it.
The platform shows the pressed state itself, so nothing is sent back.
"""

from __future__ import annotations

from core.model.decision import Completion, Conversation, Decision, DecisionKind
from core.model.feedback import FeedbackEntry, Rating, StoreOutcome
from core.model.turn import Turn
from core.store.feedback import FeedbackLog
from core.store.store import Store


class FeedbackRecorder:
    """Stores feedback turns.

    Args:
        store: The durable store.
    """

    def __init__(self, store: Store) -> None:
        self.log = FeedbackLog(store)

    async def record(self, turn: Turn, conversation: Conversation) -> Completion:
        """Store the click ``turn`` carries; the decision log says what happened."""
        assert turn.command is not None
        rating = Rating.of(turn.command)
        who = turn.sender.display_name or turn.sender.user_id
        if not turn.command_arg.isdigit():
            reasons = (f"feedback {rating} by {who} names no answer",)
            return Completion((), Decision(DecisionKind.IGNORED, reasons=reasons))
        rated = int(turn.command_arg)
        entry = FeedbackEntry(rated, rating, turn.sender, turn.key.channel, turn.message_id)
        outcome = await self.log.add(entry)
        if outcome is StoreOutcome.UNKNOWN_TURN:
            missing = (f"feedback {rating} by {who} on turn {rated}, which does not exist",)
            return Completion((), Decision(DecisionKind.IGNORED, reasons=missing))
        stored = (f"thumbs {rating} on turn {rated} by {who}", f"feedback {outcome}")
        return Completion((), Decision(DecisionKind.FEEDBACK, reasons=stored))
