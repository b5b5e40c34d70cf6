"""Handoff rows in the store: lookups and idempotent state transitions.

Every transition is one ``UPDATE … WHERE status IN (…)``: a double click or a retried
Slack event finds the row already moved and changes nothing. A transition writes the
handoff row, the customer conversation's state and a decision-log entry in one
transaction, so the conversation never says "bot" while the handoff says "taken".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from core.model.decision import DecisionKind, HandoffStatus
from core.model.handoff import ACTIVE, HandoffRecord, TranscriptEntry, Transition
from core.model.turn import ConversationKey, ImagePart, Reply, Role, Sender, Turn
from core.store import codec
from core.store.db import as_utc, utcnow
from core.store.schema import conversations, decisions, handoffs, outbox, turns
from core.store.store import Store, command_of


def _select() -> Any:
    return select(handoffs, conversations.c.platform, conversations.c.chat_id,
                  conversations.c.thread_id).join(
        conversations, conversations.c.id == handoffs.c.conversation_id)  # fmt: skip


def _record(row: Any) -> HandoffRecord:
    return HandoffRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        customer_key=ConversationKey.from_channel(row.platform, row.chat_id, row.thread_id),
        status=HandoffStatus(row.status),
        reason=row.reason,
        target=row.target,
        staff_ref=row.staff_ref,
        taken_by=row.taken_by,
        pinged_at=as_utc(row.pinged_at),
        created_at=as_utc(row.created_at) or utcnow(),
    )


def insert_replies(
    conn: Connection,
    conversation_id: int,
    replies: Sequence[Reply],
    now: datetime,
    turn_id: int | None = None,
) -> None:
    """Queue ``replies`` in the outbox (images must already be stored)."""
    for index, reply in enumerate(replies):
        conn.execute(outbox.insert().values(
            conversation_id=conversation_id, turn_id=turn_id, seq=index + 1,
            final=index == len(replies) - 1, platform=reply.key.channel,
            payload=codec.reply_to_json(reply), stream_ref=None, status="pending", attempts=0,
            next_attempt_at=now, created_at=now,
        ))  # fmt: skip


def insert_decision(
    conn: Connection,
    conversation_id: int,
    kind: DecisionKind,
    reasons: Sequence[str],
    now: datetime,
) -> None:
    conn.execute(decisions.insert().values(
        conversation_id=conversation_id, turn_id=None, kind=kind, confidence=None,
        components=[], reasons=list(reasons), model=None, created_at=now,
    ))  # fmt: skip


class HandoffRecords:
    """Queries on the ``handoffs`` table (and the turns staff need to see).

    Args:
        store: The durable store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _one(self, *where: Any) -> HandoffRecord | None:
        query = _select().where(*where).order_by(handoffs.c.id.desc()).limit(1)
        row = await self.store.db.read(lambda conn: conn.execute(query).one_or_none())
        return _record(row) if row is not None else None

    async def get(self, handoff_id: int) -> HandoffRecord | None:
        return await self._one(handoffs.c.id == handoff_id)

    async def latest(self, conversation_id: int) -> HandoffRecord | None:
        """The newest handoff of a customer conversation, whatever its status."""
        return await self._one(handoffs.c.conversation_id == conversation_id)

    async def active(self, conversation_id: int) -> HandoffRecord | None:
        """The newest open or taken handoff of a customer conversation."""
        return await self._one(
            handoffs.c.conversation_id == conversation_id, handoffs.c.status.in_(ACTIVE)
        )

    async def by_staff_ref(self, staff_ref: str) -> HandoffRecord | None:
        """The handoff whose staff thread is ``staff_ref`` (``"C123|<ts>"``)."""
        return await self._one(handoffs.c.staff_ref == staff_ref)

    async def active_staff_refs(self, target: str) -> list[str]:
        """Staff threads of handoffs still open or taken (to re-join them after a restart)."""
        query = select(handoffs.c.staff_ref).where(
            handoffs.c.status.in_(ACTIVE), handoffs.c.target == target,
            handoffs.c.staff_ref.is_not(None))  # fmt: skip
        return await self.store.db.read(lambda conn: [r.staff_ref for r in conn.execute(query)])

    async def unopened(self) -> list[HandoffRecord]:
        """Active handoffs whose staff side is not open yet (new, or a crash interrupted it)."""
        query = _select().where(handoffs.c.status.in_(ACTIVE), handoffs.c.staff_ref.is_(None))
        ordered = query.order_by(handoffs.c.id)
        return await self.store.db.read(lambda conn: [_record(r) for r in conn.execute(ordered)])

    async def trigger(self, record: HandoffRecord) -> tuple[int | None, tuple[str, ...]]:
        """The turn that caused ``record`` and its decision's reasons (the draft is one).

        The answer that opened the handoff wrote its decision in the same transaction,
        so it is the conversation's last ``handoff`` decision not newer than the row.
        """
        query = (select(decisions.c.turn_id, decisions.c.reasons)
                 .where(decisions.c.conversation_id == record.conversation_id,
                        decisions.c.kind == DecisionKind.HANDOFF,
                        decisions.c.created_at <= record.created_at)
                 .order_by(decisions.c.id.desc()).limit(1))  # fmt: skip
        row = await self.store.db.read(lambda conn: conn.execute(query).one_or_none())
        if row is None:
            return None, ()
        return row.turn_id, tuple(str(r) for r in row.reasons or ())

    async def set_staff_ref(self, handoff_id: int, staff_ref: str, target: str) -> bool:
        """Store where the staff side lives; only the first opener wins."""
        statement = (update(handoffs)
                     .where(handoffs.c.id == handoff_id, handoffs.c.staff_ref.is_(None))
                     .values(staff_ref=staff_ref, target=target, updated_at=utcnow()))  # fmt: skip
        return bool(await self.store.db.write(lambda conn: conn.execute(statement).rowcount == 1))

    async def apply(self, record: HandoffRecord, transition: Transition) -> bool:
        """Move ``record`` as ``transition`` says; False (and nothing written) if it already moved."""
        now = utcnow()
        values: dict[str, Any] = {"status": transition.to_status, "updated_at": now}
        if transition.to_status is HandoffStatus.TAKEN:
            values["taken_by"] = transition.actor

        def work(conn: Connection) -> bool:
            result = conn.execute(
                update(handoffs).where(handoffs.c.id == record.id,
                                       handoffs.c.status.in_(transition.from_statuses))
                .values(**values))  # fmt: skip
            if result.rowcount != 1:
                return False
            if transition.conversation_state:
                conn.execute(
                    update(conversations).where(conversations.c.id == record.conversation_id)
                    .values(state=transition.conversation_state, failures=0, updated_at=now))  # fmt: skip
            reasons = (*transition.reasons, f"handoff {record.id}")
            insert_decision(conn, record.conversation_id, transition.decision, reasons, now)
            return True

        return await self.store.db.write(work)

    async def logged(self, conversation_id: int, kind: DecisionKind, reason: str) -> bool:
        """Whether a ``kind`` decision with ``reason`` is in the conversation's log.

        A click whose transition committed but whose answer did not (a crash in between)
        is recognised by its own marker when the worker retries it.
        """
        query = (select(decisions.c.reasons)
                 .where(decisions.c.conversation_id == conversation_id, decisions.c.kind == kind)
                 .order_by(decisions.c.id.desc()).limit(50))  # fmt: skip
        return await self.store.db.read(
            lambda conn: any(reason in (r.reasons or ()) for r in conn.execute(query))
        )

    # -- timeouts ------------------------------------------------------------------------

    @staticmethod
    def _due(cutoff: datetime) -> Any:
        return and_(handoffs.c.status == HandoffStatus.OPEN, or_(
            and_(handoffs.c.pinged_at.is_(None), handoffs.c.created_at <= cutoff),
            handoffs.c.pinged_at <= cutoff))  # fmt: skip

    async def due_for_ping(
        self, wait: timedelta, now: datetime | None = None
    ) -> list[HandoffRecord]:
        """Open handoffs nobody took within ``wait`` (since opening or the last ping)."""
        cutoff = (now or utcnow()) - wait
        query = _select().where(self._due(cutoff)).order_by(handoffs.c.id)
        return await self.store.db.read(lambda conn: [_record(r) for r in conn.execute(query)])

    async def claim_ping(
        self,
        record: HandoffRecord,
        wait: timedelta,
        replies: Sequence[Reply],
        reasons: Sequence[str],
        now: datetime | None = None,
    ) -> bool:
        """Mark one ping as sent and queue its messages atomically; False if not due any more."""
        at = now or utcnow()

        def work(conn: Connection) -> bool:
            result = conn.execute(
                update(handoffs).where(handoffs.c.id == record.id, self._due(at - wait))
                .values(pinged_at=at, updated_at=at))  # fmt: skip
            if result.rowcount != 1:
                return False
            insert_replies(conn, record.conversation_id, replies, at)
            reasons_with_id = (*reasons, f"handoff {record.id}")
            insert_decision(
                conn, record.conversation_id, DecisionKind.HANDOFF_TIMEOUT, reasons_with_id, at
            )
            return True

        return await self.store.db.write(work)

    # -- what staff see -----------------------------------------------------------------

    async def transcript(
        self, conversation_id: int, up_to_turn: int | None, limit: int
    ) -> list[TranscriptEntry]:
        """The last ``limit`` turns of a conversation (up to and including ``up_to_turn``)."""
        query = select(turns).where(turns.c.conversation_id == conversation_id)
        if up_to_turn is not None:
            query = query.where(turns.c.id <= up_to_turn)
        newest = query.order_by(turns.c.id.desc()).limit(limit)
        rows = list(reversed(await self.store.db.read(lambda conn: conn.execute(newest).all())))
        hashes = {p["sha256"] for r in rows for p in r.parts if p["type"] == "image"}
        images = await self.store.load_images(hashes)
        return [
            TranscriptEntry(
                r.id,
                Role(r.role),
                Sender(r.sender_id, r.sender_name, Role(r.role)),
                r.text,
                tuple(
                    p for p in codec.parts_from_json(r.parts, images) if isinstance(p, ImagePart)
                ),
                command_of(r.command),
                as_utc(r.sent_at) or utcnow(),
            )
            for r in rows
        ]

    async def last_customer_turn(self, conversation_id: int) -> tuple[Sender, str] | None:
        """The customer's identity and latest words (for names and the reply language)."""
        query = (select(turns.c.sender_id, turns.c.sender_name, turns.c.text)
                 .where(turns.c.conversation_id == conversation_id,
                        turns.c.role == Role.CUSTOMER.value)
                 .order_by(turns.c.id.desc()).limit(1))  # fmt: skip
        row = await self.store.db.read(lambda conn: conn.execute(query).one_or_none())
        if row is None:
            return None
        return Sender(row.sender_id, row.sender_name, Role.CUSTOMER), row.text

    async def record_relayed(self, turn: Turn) -> bool:
        """Remember a relayed staff message in the customer conversation, once per message id.

        The customer's history then shows what staff said (memory, export), and a retried
        relay does not add it twice.
        """
        query = (select(turns.c.id).join(conversations, conversations.c.id == turns.c.conversation_id)
                 .where(conversations.c.platform == turn.key.channel,
                        conversations.c.chat_id == turn.key.chat_id,
                        conversations.c.thread_id == turn.key.thread_id,
                        turns.c.platform_message_id == turn.message_id).limit(1))  # fmt: skip
        seen = await self.store.db.read(lambda conn: conn.execute(query).first())
        if seen is not None:
            return False
        await self.store.record_turn(turn)
        return True
