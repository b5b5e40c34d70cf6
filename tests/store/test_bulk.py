"""BulkInsert stores rows exactly as SQLAlchemy's own executemany would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import StoreConflictError, StoreError
from core.model.turn import ConversationKey
from core.store.bulk import BulkInsert
from core.store.db import insert_ignore
from core.store.rows import ensure_conversations, insert_ids
from core.store.schema import conversations, decisions, outbox
from core.store.store import Store

NOW = datetime(2026, 11, 21, 12, 30, 15, 123456, tzinfo=UTC)
KEY = ConversationKey("webhook", "c1", source="shop")


async def _conversation(store: Store) -> int:
    ids = await store.db.write(lambda c: ensure_conversations(c, store.db.dialect, [KEY], NOW))
    return ids[KEY]


def _decision(conversation_id: int, created_at: datetime, **extra: Any) -> dict[str, Any]:
    row = {
        "conversation_id": conversation_id,
        "turn_id": None,
        "kind": "answer",
        "confidence": 0.75,
        "components": [{"name": "logprob", "value": 0.5}],
        "reasons": ["grounded"],
        "model": "stub",
        "created_at": created_at,
    }
    return row | extra


async def _decisions(store: Store) -> list[Any]:
    query = select(decisions).order_by(decisions.c.id)
    return await store.db.read(lambda c: c.execute(query).all())


async def test_rows_read_back_as_sqlalchemy_wrote_them(store: Store) -> None:
    conversation_id = await _conversation(store)
    eastern = datetime(2026, 11, 21, 20, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    rows = [_decision(conversation_id, NOW), _decision(conversation_id, eastern, kind="handoff")]
    await store.db.write(lambda c: BulkInsert(decisions.insert()).run(c, store.db.dialect, rows))
    await store.db.write(lambda c: c.execute(decisions.insert(), rows))  # the reference
    stored = await _decisions(store)
    ours, reference = stored[:2], stored[2:]
    assert [dict(r._mapping) | {"id": 0} for r in ours] == [
        dict(r._mapping) | {"id": 0} for r in reference
    ]
    raw = await store.db.read(
        lambda c: c.exec_driver_sql("SELECT * FROM decisions ORDER BY id").all()
    )
    assert [tuple(r)[1:] for r in raw[:2]] == [tuple(r)[1:] for r in raw[2:]]  # as stored
    assert ours[0].components == [{"name": "logprob", "value": 0.5}]
    assert ours[1].kind == "handoff"


async def test_a_python_side_default_is_filled_in(store: Store) -> None:
    rows = [
        {
            "platform": "webhook:shop",
            "chat_id": "c9",
            "state": "bot",
            "failures": 0,
            "created_at": NOW,
            "updated_at": NOW,
        }
    ]  # fmt: skip  (no thread_id: default "")
    await store.db.write(
        lambda c: BulkInsert(conversations.insert()).run(c, store.db.dialect, rows)
    )
    query = select(conversations.c.thread_id).where(conversations.c.chat_id == "c9")
    assert await store.db.read(lambda c: c.execute(query).scalar_one()) == ""


async def test_rows_with_different_columns_are_refused(store: Store) -> None:
    conversation_id = await _conversation(store)
    rows = [_decision(conversation_id, NOW), {"conversation_id": conversation_id, "kind": "x"}]
    if store.db.dialect != "sqlite":
        pytest.skip("PostgreSQL rows go through SQLAlchemy's own executemany")
    with pytest.raises(StoreError, match="same columns"):
        await store.db.write(lambda c: BulkInsert(decisions.insert()).run(c, "sqlite", rows))
    assert await _decisions(store) == []  # the transaction was rolled back


async def test_an_ignoring_insert_skips_existing_rows(store: Store) -> None:
    await _conversation(store)
    row = {"platform": KEY.channel, "chat_id": KEY.chat_id, "thread_id": "", "state": "bot",
           "failures": 0, "created_at": NOW, "updated_at": NOW}  # fmt: skip
    ignoring = BulkInsert(insert_ignore(store.db.dialect, conversations))
    await store.db.write(lambda c: ignoring.run(c, store.db.dialect, [row, row]))
    count = await store.db.read(lambda c: len(c.execute(select(conversations)).all()))
    assert count == 1


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(store: Store) -> None:
    row = {"platform": KEY.channel, "chat_id": KEY.chat_id, "thread_id": "", "state": "bot",
           "failures": 0, "created_at": NOW, "updated_at": NOW}  # fmt: skip
    plain = BulkInsert(conversations.insert())
    with pytest.raises(StoreConflictError):  # what the inbox's group commit falls back on
        await store.db.write(lambda c: plain.run(c, store.db.dialect, [row, row]))


async def test_insert_ids_are_the_new_rows_ids_in_order(store: Store) -> None:
    conversation_id = await _conversation(store)

    def reply_row(seq: int) -> dict[str, Any]:
        return {"conversation_id": conversation_id, "turn_id": None, "seq": seq, "final": False,
                "platform": KEY.channel, "payload": {"text": f"reply {seq}"},
                "stream_ref": None, "status": "pending", "attempts": 0,
                "next_attempt_at": NOW, "created_at": NOW}  # fmt: skip

    first = await store.db.write(
        lambda c: insert_ids(c, store.db.dialect, outbox, [reply_row(1), reply_row(2)])
    )
    second = await store.db.write(
        lambda c: insert_ids(
            c, store.db.dialect, outbox, [reply_row(3), reply_row(4), reply_row(5)]
        )
    )
    assert len(set(first + second)) == 5 and first + second == sorted(first + second)
    query = select(outbox.c.id, outbox.c.seq)
    seq_of = dict(await store.db.read(lambda c: c.execute(query).all()))  # type: ignore[arg-type]
    assert [seq_of[i] for i in first + second] == [1, 2, 3, 4, 5]
