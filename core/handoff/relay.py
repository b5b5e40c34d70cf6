"""The handoff side of answering a turn: relay both ways and the staff buttons.

Used by :class:`core.answering.answer.Answerer`; like it, this module only *decides*: it returns a
:class:`~core.store.queue.Completion` whose replies the worker commits to the outbox.
Customer messages during a handoff go to the staff desk as replies on the pseudo
platform ``"handoff"`` (see :func:`desk_key`); the handoff service delivers them into
the staff thread, in order, opening the thread first if it is not open yet. Which staff
turns belong to a handoff, each desk says itself (:meth:`StaffDesk.staff_ref_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from core.handoff import summary as texts
from core.handoff.desk import StaffDesk
from core.model.decision import (
    Completion,
    Conversation,
    ConversationState,
    Decision,
    DecisionKind,
    HandoffStatus,
)
from core.model.handoff import HandoffRecord, return_to_bot, take, transition_for
from core.model.turn import DESK_ACTIONS, Command, ConversationKey, Reply, ReplyKind, Role, Turn
from core.store.handoffs import HandoffRecords
from core.texts import Language, detect_language, text

log = logging.getLogger(__name__)

DESK_PLATFORM = "handoff"
# The target of a handoff held by the account's owner in their own chat (a Telegram business
# account): no staff desk opens it, relays nothing to it, and pings nobody about it.
OWNER_TARGET = "owner"
OWNER_REASON = "the account owner replied in the chat"
DRAFT_REASON = "draft withheld: "
MAX_DRAFT_CHARS = 3000


def draft_reason(draft: str) -> str:
    """The decision-log entry that keeps a withheld answer for staff to see."""
    return DRAFT_REASON + draft.strip()[:MAX_DRAFT_CHARS]


def desk_key(conversation_id: int) -> ConversationKey:
    """Where messages for the staff side of a customer conversation are queued."""
    return ConversationKey(DESK_PLATFORM, str(conversation_id), "")


def _name(turn: Turn) -> str:
    return turn.sender.display_name or turn.sender.user_id


class HandoffRelay:
    """Decides what a turn means for a handoff.

    Args:
        records: Handoff lookups and transitions.
        desks: The staff desks of the handoff service; none when no service runs (then
            a conversation left in a handoff is answered by the bot again: nobody could
            read the customer).
        owner_quiet_minutes: An owner who took a conversation over by replying and then
            stayed quiet this long hands it back to the bot (0: never).
    """

    def __init__(
        self,
        records: HandoffRecords,
        desks: Sequence[StaffDesk] = (),
        owner_quiet_minutes: float = 720.0,
    ) -> None:
        self.records = records
        self.desks = tuple(desks)
        self.owner_quiet = timedelta(minutes=owner_quiet_minutes)

    async def takeover(self, turn: Turn, conversation: Conversation) -> Completion:
        """The account's owner wrote in the customer's chat: the bot goes quiet there.

        Opens a handoff held by the owner (or takes the open one); the owner's words go into
        the conversation's history, so the bot knows them when it is back.
        """
        name = _name(turn)
        record = await self.records.active(conversation.id)
        reasons = [f"{OWNER_REASON}: {name}"]
        if record is None:
            staff_ref = f"{OWNER_TARGET}:{conversation.id}"
            handoff_id = await self.records.open_taken(
                conversation.id, OWNER_REASON, OWNER_TARGET, name, staff_ref
            )
            reasons.append(f"handoff {handoff_id}")
            log.info("handoff of %s (owner): %s: %s", turn.key.as_str(), OWNER_REASON, name)
        else:
            if record.status is HandoffStatus.OPEN:
                await self.records.apply(record, take(name, ("replied in the customer's chat",)))
            reasons.append(f"handoff {record.id}")
        await self.records.record_relayed(Turn(
            turn.key, turn.sender, f"owner:{turn.message_id}", turn.parts, turn.timestamp))  # fmt: skip
        return Completion(
            (),
            Decision(DecisionKind.TAKE, reasons=tuple(reasons)),
            new_state=ConversationState.HANDOFF,
        )

    async def _owner_back_to_bot(self, record: HandoffRecord) -> bool:
        """Hand an owner's conversation back once the owner has been quiet long enough."""
        if self.owner_quiet <= timedelta(0):
            return False
        last = await self.records.last_turn_at(record.conversation_id, Role.STAFF)
        if datetime.now(UTC) - (last or record.created_at) < self.owner_quiet:
            return False
        minutes = round(self.owner_quiet.total_seconds() / 60)
        transition = return_to_bot("kefu", (f"the owner was quiet for {minutes} min",))
        await self.records.apply(record, transition)
        return True

    async def customer_turn(
        self, turn: Turn, conversation: Conversation, language: Language
    ) -> Completion | None:
        """A customer turn while the conversation is with staff; None if no handoff is active."""
        record = await self.records.active(conversation.id)
        if record is None:
            return None
        if record.target == OWNER_TARGET and await self._owner_back_to_bot(record):
            return None
        where = f"handoff {record.id}"
        if record.target == OWNER_TARGET and turn.command is not Command.HUMAN:
            # The owner reads the customer in their own app: nothing to relay, nobody to ping.
            reasons = ("the account owner is answering in their own chat", where)
            return Completion((), Decision(DecisionKind.RELAY, reasons=reasons))
        if not self.desks and record.target != OWNER_TARGET:
            # No desk could read the customer: the bot takes the conversation back rather
            # than leave them talking to nobody.
            transition = return_to_bot("kefu", ("no staff desk is configured",))
            await self.records.apply(record, transition)
            return None
        if turn.command is Command.HUMAN:
            reply = Reply(
                turn.key,
                text("handoff_already", language),
                ReplyKind.NOTICE,
                reply_to=turn.message_id,
            )
            reasons = ("already with staff", where)
            return Completion((reply,), Decision(DecisionKind.NOTICE, reasons=reasons))
        if not turn.text.strip() and not turn.images:
            reasons = ("in handoff; nothing to relay", where)
            return Completion((), Decision(DecisionKind.RELAY, reasons=reasons))
        reply = Reply(
            desk_key(conversation.id),
            turn.text,
            ReplyKind.RELAY,
            reply_to=turn.message_id,
            images=turn.images,
        )
        return Completion(
            (reply,),
            Decision(
                DecisionKind.RELAY,
                reasons=("in handoff: customer message relayed to staff", where),
            ),
        )

    async def customer_reset(self, turn: Turn, conversation: Conversation) -> tuple[str, ...]:
        """``/reset`` during a handoff: the handoff is returned to the bot.

        Returns the decision-log reasons (empty when no handoff was active).
        """
        record = await self.records.active(conversation.id)
        if record is None:
            return ()
        actor = _name(turn) or "customer"
        await self.records.apply(
            record, return_to_bot(actor, ("the customer reset the conversation",))
        )
        return (f"handoff {record.id} returned: the customer reset the conversation",)

    async def staff_turn(self, turn: Turn) -> Completion | None:
        """A staff turn on a handoff's staff side; None when it is not on one."""
        if turn.sender.role is not Role.STAFF:
            return None
        refs = (desk.staff_ref_of(turn.key) for desk in self.desks)
        staff_ref = next((ref for ref in refs if ref is not None), None)
        if staff_ref is None:
            return None
        record = await self.records.by_staff_ref(staff_ref)
        if record is None:
            return None
        if turn.command:
            if turn.command not in DESK_ACTIONS or turn.command_arg != str(record.id):
                reasons = (f"command {turn.command!r} in the thread of handoff {record.id}",)
                return Completion((), Decision(DecisionKind.IGNORED, reasons=reasons))
            return await self._button(record, turn, turn.command)
        return await self._staff_message(record, turn)

    async def _button(self, record: HandoffRecord, turn: Turn, action: Command) -> Completion:
        name = _name(turn)
        marker = f"click {turn.key.channel}:{turn.message_id}"
        transition = transition_for(action, name, (marker,))
        applied = await self.records.apply(record, transition)
        if not applied and not await self.records.logged(
            record.conversation_id, transition.decision, marker
        ):
            current = await self.records.get(record.id)
            status = current.status if current else record.status
            reasons = (f"no change: handoff {record.id} is already {status}", f"pressed by {name}")
            return Completion((), Decision(transition.decision, reasons=reasons))
        # Applied now, or by this same click before a crash: say so (again) either way.
        taken = action is Command.TAKE
        notice = texts.taken_text(name) if taken else texts.closed_text(action, name)
        replies = [Reply(turn.key, notice, ReplyKind.NOTICE)]
        if not taken:
            language = await self._customer_language(record)
            replies.append(
                Reply(record.customer_key, text("handoff_returned", language), ReplyKind.NOTICE)
            )
        return Completion(
            tuple(replies),
            Decision(transition.decision, reasons=(*transition.reasons, f"handoff {record.id}")),
        )

    async def _staff_message(self, record: HandoffRecord, turn: Turn) -> Completion:
        where = f"handoff {record.id}"
        if not record.active:
            notice = Reply(turn.key, texts.not_relayed_text(record.status), ReplyKind.NOTICE)
            not_sent = (f"not relayed: {where} is {record.status.value}",)
            return Completion((notice,), Decision(DecisionKind.RELAY, reasons=not_sent))
        if not turn.text.strip() and not turn.images:
            return Completion((), Decision(DecisionKind.RELAY, reasons=("nothing to relay", where)))
        if turn.text.lstrip().startswith(texts.NOTE_PREFIX):
            # Staff talking among themselves in the thread: never shown to the customer.
            return Completion(
                (), Decision(DecisionKind.NOTE, reasons=("internal staff note", where))
            )
        name = _name(turn)
        replies = [Reply(record.customer_key, turn.text, ReplyKind.RELAY, images=turn.images)]
        reasons = [f"staff {name} → customer on {record.customer_key.channel}", where]
        if record.status is HandoffStatus.OPEN and await self.records.apply(
            record, take(name, ("replied in the thread",))
        ):
            replies.append(Reply(turn.key, texts.taken_text(name), ReplyKind.NOTICE))
            reasons.append(f"taken by {name} (first reply)")
        await self.records.record_relayed(Turn(
            record.customer_key, turn.sender, f"relay:{turn.key.channel}:{turn.message_id}",
            turn.parts, turn.timestamp))  # fmt: skip
        return Completion(tuple(replies), Decision(DecisionKind.RELAY, reasons=tuple(reasons)))

    async def _customer_language(self, record: HandoffRecord) -> Language:
        last = await self.records.last_customer_turn(record.conversation_id)
        return detect_language(last[1]) if last else "en"
