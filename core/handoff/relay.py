"""The handoff side of answering a turn: relay both ways and the staff buttons.

Used by :class:`core.answering.answer.Answerer`; like it, this module only *decides*: it returns a
:class:`~core.store.queue.Completion` whose replies the worker commits to the outbox.
Customer messages during a handoff go to the staff desk as replies on the pseudo
platform ``"handoff"`` (see :func:`desk_key`); the handoff service delivers them into
the staff thread, in order, opening the thread first if it is not open yet.
"""

from __future__ import annotations

from core.handoff import summary as texts
from core.handoff.records import HandoffRecord, HandoffRecords, resolve, return_to_bot, take
from core.model.turn import ConversationKey, Reply, ReplyKind, Role, Turn
from core.store.queue import Completion, Decision
from core.store.store import Conversation
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


def staff_ref_of(key: ConversationKey) -> str:
    """The ``staff_ref`` a Slack thread has: ``"C123|<thread_ts>"``."""
    return f"{key.chat_id}|{key.thread_id}"


def _name(turn: Turn) -> str:
    return turn.sender.display_name or turn.sender.user_id


class HandoffRelay:
    """Decides what a turn means for a handoff.

    Args:
        records: Handoff lookups and transitions.
        desk_enabled: Queue messages for the staff desk (a handoff service is registered
            as the ``"handoff"`` adapter). When off, customers in handoff get silence.
    """

    def __init__(self, records: HandoffRecords, desk_enabled: bool) -> None:
        self.records = records
        self.desk_enabled = desk_enabled

    async def customer_turn(
        self, turn: Turn, conversation: Conversation, language: Language
    ) -> Completion | None:
        """A customer turn while the conversation is with staff; None if no handoff is active."""
        record = await self.records.active(conversation.id)
        if record is None:
            return None
        where = f"handoff {record.id}"
        if turn.command == "human":
            reply = Reply(
                turn.key,
                text("handoff_already", language),
                ReplyKind.NOTICE,
                reply_to=turn.message_id,
            )
            return Completion((reply,), Decision("notice", reasons=("already with staff", where)))
        if not self.desk_enabled:
            return Completion((), Decision("relay", reasons=("in handoff; no staff desk", where)))
        if not turn.text.strip() and not turn.images:
            return Completion(
                (), Decision("relay", reasons=("in handoff; nothing to relay", where))
            )
        reply = Reply(
            desk_key(conversation.id),
            turn.text,
            ReplyKind.RELAY,
            reply_to=turn.message_id,
            images=turn.images,
        )
        return Completion(
            (reply,),
            Decision("relay", reasons=("in handoff: customer message relayed to staff", where)),
        )

    async def staff_turn(self, turn: Turn) -> Completion | None:
        """A staff turn in a handoff's Slack thread; None when the thread is not a handoff's."""
        if (
            turn.sender.role is not Role.STAFF
            or turn.key.platform != "slack"
            or not turn.key.thread_id
        ):
            return None
        record = await self.records.by_staff_ref(staff_ref_of(turn.key))
        if record is None:
            return None
        if turn.command:
            button = texts.parse_button(turn.command)
            if button is None or button[1] != record.id:
                return Completion(
                    (),
                    Decision(
                        "ignored",
                        reasons=(f"command {turn.command!r} in the thread of handoff {record.id}",),
                    ),
                )
            return await self._button(record, turn, button[0])
        return await self._staff_message(record, turn)

    async def _button(self, record: HandoffRecord, turn: Turn, verb: str) -> Completion:
        name = _name(turn)
        marker = f"click {turn.key.platform}:{turn.message_id}"
        factory = {texts.TAKE: take, texts.RESOLVE: resolve, texts.RETURN: return_to_bot}[verb]
        transition = factory(name, (marker,))
        applied = await self.records.apply(record, transition)
        if not applied and not await self.records.logged(
            record.conversation_id, transition.decision, marker
        ):
            current = await self.records.get(record.id)
            status = current.status if current else record.status
            reasons = (f"no change: handoff {record.id} is already {status}", f"pressed by {name}")
            return Completion((), Decision(transition.decision, reasons=reasons))
        # Applied now, or by this same click before a crash: say so (again) either way.
        notice = texts.taken_text(name) if verb == texts.TAKE else texts.closed_text(verb, name)
        replies = [Reply(turn.key, notice, ReplyKind.NOTICE)]
        if verb != texts.TAKE:
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
            return Completion(
                (notice,), Decision("relay", reasons=(f"not relayed: {where} is {record.status}",))
            )
        if not turn.text.strip() and not turn.images:
            return Completion((), Decision("relay", reasons=("nothing to relay", where)))
        if turn.text.lstrip().startswith(texts.NOTE_PREFIX):
            # Staff talking among themselves in the thread: never shown to the customer.
            return Completion((), Decision("note", reasons=("internal staff note", where)))
        name = _name(turn)
        replies = [Reply(record.customer_key, turn.text, ReplyKind.RELAY, images=turn.images)]
        reasons = [f"staff {name} → customer on {record.customer_key.platform}", where]
        if record.status == "open" and await self.records.apply(
            record, take(name, ("replied in the thread",))
        ):
            replies.append(Reply(turn.key, texts.taken_text(name), ReplyKind.NOTICE))
            reasons.append(f"taken by {name} (first reply)")
        await self.records.record_relayed(Turn(
            record.customer_key, turn.sender, f"relay:{turn.key.platform}:{turn.message_id}",
            turn.parts, turn.timestamp))  # fmt: skip
        return Completion(tuple(replies), Decision("relay", reasons=tuple(reasons)))

    async def _customer_language(self, record: HandoffRecord) -> Language:
        last = await self.records.last_customer_turn(record.conversation_id)
        return detect_language(last[1]) if last else "en"
