"""Dead letters: turns that failed every attempt, and replies no platform would take.

* inbox rows with status ``failed``: answering raised (or killed the process) on each of
  ``worker.max_attempts`` attempts; the customer was sent an apology;
* outbox rows with status ``dead``: the platform refused them for good (blocked bot, 410)
  or kept failing through the whole retry schedule.

``main.py deadletters list`` shows both; ``main.py deadletters replay inbox:ID`` (or
``outbox:ID``, or ``--all``) puts them back in line with a fresh count of attempts: a
replayed turn is answered again (it keeps its place: before any later turn of its
conversation that is still open); a replayed reply is delivered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, select, update

from core.errors import InvalidInputError
from core.store.db import as_utc, utcnow
from core.store.schema import conversations, inbox, outbox, turns
from core.store.store import Store


class Box(StrEnum):
    INBOX = "inbox"
    OUTBOX = "outbox"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter, as listed."""

    box: Box
    id: int
    conversation: str  # the conversation key, "platform|chat|thread"
    attempts: int
    error: str
    text: str  # the customer's message (inbox) or the reply (outbox), shortened
    at: datetime | None

    @property
    def ref(self) -> str:
        return f"{self.box}:{self.id}"


def parse_ref(ref: str) -> tuple[Box, int]:
    """``inbox:12`` or ``outbox:7``.

    Raises:
        InvalidInputError: anything else.
    """
    box, _, number = ref.partition(":")
    if box not in Box._value2member_map_ or not number.isdigit():
        raise InvalidInputError(f"not a dead letter reference: {ref!r} (inbox:ID or outbox:ID)")
    return Box(box), int(number)


class DeadLetters:
    """Lists and replays dead letters."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def listed(self, limit: int = 100) -> list[DeadLetter]:
        return await self.store.db.read(lambda conn: _read(conn, limit))

    async def replay(self, refs: Sequence[str] = (), every: bool = False) -> list[str]:
        """Put dead letters back in line; returns the references replayed.

        Raises:
            InvalidInputError: a reference is malformed.
        """
        wanted = [parse_ref(ref) for ref in refs]
        now = utcnow()

        def work(conn: Connection) -> list[str]:
            replayed: list[str] = []
            for box, table, dead in ((Box.INBOX, inbox, "failed"), (Box.OUTBOX, outbox, "dead")):
                ids = [i for b, i in wanted if b is box]
                where = [table.c.status == dead]
                if not every:
                    where.append(table.c.id.in_(ids))
                values = (
                    {"status": "pending", "attempts": 0, "error": None, "done_at": None,
                     "available_at": None, "lease_owner": None, "lease_until": None}
                    if box is Box.INBOX
                    else {"status": "pending", "attempts": 0, "last_error": None,
                          "next_attempt_at": now, "lease_until": None}
                )  # fmt: skip
                if every or ids:
                    done = conn.execute(
                        update(table).where(*where).values(**values).returning(table.c.id)
                    )
                    replayed.extend(f"{box}:{i}" for i in sorted(done.scalars()))
            return replayed

        replayed = await self.store.db.write(work)
        if any(ref.startswith(Box.INBOX) for ref in replayed):
            self.store.notify_new_turns()
        return replayed


def _read(conn: Connection, limit: int) -> list[DeadLetter]:
    key = conversations.c.platform + "|" + conversations.c.chat_id + "|" + conversations.c.thread_id
    turned = conn.execute(
        select(inbox.c.id, key.label("key"), inbox.c.attempts, inbox.c.error, turns.c.text,
               inbox.c.done_at)
        .join(conversations, conversations.c.id == inbox.c.conversation_id)
        .join(turns, turns.c.id == inbox.c.turn_id)
        .where(inbox.c.status == "failed").order_by(inbox.c.id).limit(limit)
    ).all()  # fmt: skip
    sent = conn.execute(
        select(outbox.c.id, key.label("key"), outbox.c.attempts, outbox.c.last_error,
               outbox.c.payload, outbox.c.created_at)
        .join(conversations, conversations.c.id == outbox.c.conversation_id)
        .where(outbox.c.status == "dead").order_by(outbox.c.id).limit(limit)
    ).all()  # fmt: skip
    return [
        *(DeadLetter(Box.INBOX, r.id, r.key, r.attempts, r.error or "", _short(r.text),
                     as_utc(r.done_at)) for r in turned),
        *(DeadLetter(Box.OUTBOX, r.id, r.key, r.attempts, r.last_error or "",
                     _short(str(r.payload.get("text", ""))), as_utc(r.created_at)) for r in sent),
    ]  # fmt: skip


def _short(value: str, width: int = 80) -> str:
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"
