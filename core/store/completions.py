"""What answering a turn writes, in the same transaction that finishes its inbox item.

:class:`~core.store.queue.InboxQueue` finishes a turn in several ways (answered, held
with a notice, joined to a later turn, dead-lettered); whichever way, the answer that goes
with it is written here: its replies as outbox rows, its decision, the conversation's new
state and failure count, and the handoff the answer opened. Answers finishing together are
written with one statement each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, case, func, update

from core.model.decision import Completion
from core.model.turn import ConversationKey
from core.store import codec
from core.store.bulk import BulkInsert
from core.store.rows import insert_ids
from core.store.schema import conversations, decisions, handoffs, outbox

if TYPE_CHECKING:
    from core.store.queue import Claim  # the queue imports this module


_DECISION_INSERT = BulkInsert(decisions.insert())


@dataclass(frozen=True, slots=True)
class Finished:
    """One claimed turn's answer, on its way into the transaction that finishes the turn."""

    claim: Claim
    key: ConversationKey
    completion: Completion


def insert_replies(
    conn: Connection, dialect: str, batch: Sequence[Finished], now: datetime
) -> dict[int, list[int]]:
    """Outbox rows for every reply of the batch, in one statement; outbox ids per inbox id."""
    rows, owners = [], []
    for finished in batch:
        replies = finished.completion.replies
        for index, reply in enumerate(replies):
            owners.append(finished.claim.inbox_id)
            rows.append({
                "conversation_id": finished.claim.conversation_id,
                "turn_id": finished.claim.turn_id, "seq": index + 1,
                "final": index == len(replies) - 1, "platform": reply.key.channel,
                "payload": codec.reply_to_json(reply),
                "stream_ref": finished.completion.stream_refs.get(index), "status": "pending",
                "attempts": 0, "next_attempt_at": now, "created_at": now,
            })  # fmt: skip
    ids: dict[int, list[int]] = {}
    if rows:
        outbox_ids = insert_ids(conn, dialect, outbox, rows)
        for owner, outbox_id in zip(owners, outbox_ids, strict=True):
            ids.setdefault(owner, []).append(outbox_id)
    return ids


def insert_decisions(
    conn: Connection, dialect: str, batch: Sequence[Finished], now: datetime
) -> None:
    if not batch:
        return
    _DECISION_INSERT.run(conn, dialect, [
        {"conversation_id": f.claim.conversation_id, "turn_id": f.claim.turn_id,
         "kind": f.completion.decision.kind, "confidence": f.completion.decision.confidence,
         "components": codec.components_to_json(f.completion.decision.components),
         "reasons": list(f.completion.decision.reasons), "model": f.completion.decision.model,
         "created_at": now}
        for f in batch
    ])  # fmt: skip


_CONVERSATION_UPDATE = (
    update(conversations)
    .where(conversations.c.id == bindparam("conversation"))
    .values(
        updated_at=bindparam("at", type_=conversations.c.updated_at.type),
        state=func.coalesce(bindparam("new_state", type_=conversations.c.state.type),
                            conversations.c.state),
        failures=case(
            (bindparam("delta") > 0, conversations.c.failures + bindparam("delta")),
            (bindparam("delta") < 0, 0),
            else_=conversations.c.failures,
        ),
    )
)  # fmt: skip


def update_conversations(conn: Connection, batch: Sequence[Finished], now: datetime) -> None:
    """Conversation state and failure counters, and the handoffs the answers opened."""
    if not batch:
        return
    conn.execute(_CONVERSATION_UPDATE, [
        {"conversation": f.claim.conversation_id, "at": now,
         "new_state": f.completion.new_state, "delta": f.completion.failure_delta}
        for f in batch
    ])  # fmt: skip
    opened = [f for f in batch if f.completion.handoff_reason]
    if opened:
        conn.execute(handoffs.insert(), [
            {"conversation_id": f.claim.conversation_id, "status": "open",
             "reason": f.completion.handoff_reason, "target": "",
             "created_at": now, "updated_at": now}
            for f in opened
        ])  # fmt: skip
