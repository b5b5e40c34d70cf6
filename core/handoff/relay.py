"""The handoff side of answering a turn: relay both ways and the staff buttons.

Used by :class:`core.answering.answer.Answerer`; like it, this module only *decides*: it returns a
:class:`~core.store.queue.Completion` whose replies the worker commits to the outbox.
Customer messages during a handoff go to the staff desk as replies on the pseudo
platform ``"handoff"`` (see :func:`desk_key`); the handoff service delivers them into
the staff thread, in order, opening the thread first if it is not open yet. Which staff
turns belong to a handoff, each desk says itself (:meth:`StaffDesk.staff_ref_of`).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.handoff import summary as texts
from core.handoff.desk import StaffDesk
from core.model.decision import Completion, Conversation, Decision, DecisionKind, HandoffStatus
from core.model.handoff import HandoffRecord, take, transition_for
from core.model.turn import DESK_ACTIONS, Command, ConversationKey, Reply, ReplyKind, Role, Turn
from core.store.handoffs import HandoffRecords
from core.texts import Language, detect_language, text

DESK_PLATFORM = "handoff"
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
            customers in a handoff get silence).
    """

    def __init__(self, records: HandoffRecords, desks: Sequence[StaffDesk] = ()) -> None:
        self.records = records
        self.desks = tuple(desks)

    async def customer_turn(
        self, turn: Turn, conversation: Conversation, language: Language
    ) -> Completion | None:
        """A customer turn while the conversation is with staff; None if no handoff is active."""
        record = await self.records.active(conversation.id)
        if record is None:
            return None
        where = f"handoff {record.id}"
        if turn.command is Command.HUMAN:
            reply = Reply(
                turn.key,
                text("handoff_already", language),
                ReplyKind.NOTICE,
                reply_to=turn.message_id,
            )
            reasons = ("already with staff", where)
            return Completion((reply,), Decision(DecisionKind.NOTICE, reasons=reasons))
        if not self.desks:
            reasons = ("in handoff; no staff desk", where)
            return Completion((), Decision(DecisionKind.RELAY, reasons=reasons))
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
