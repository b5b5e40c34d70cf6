"""Database: transactions as functions, on one SQLite thread or through asyncpg."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text, update

from core.errors import StoreError
from core.model.turn import ConversationKey
from core.store.db import Database
from core.store.schema import conversations, inbox
from core.store.store import Store
from tests.conftest import make_turn


def _failures(conn: Connection) -> int:
    return int(conn.execute(select(func.sum(conversations.c.failures))).scalar_one() or 0)


async def test_a_write_commits_and_a_failing_write_rolls_back(store: Store) -> None:
    await store.put(make_turn("hi", chat="A"))
    await store.db.write(lambda conn: conn.execute(update(conversations).values(failures=2)))

    def fail(conn: Connection) -> None:
        conn.execute(update(conversations).values(failures=9))
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        await store.db.write(fail)
    assert await store.db.read(_failures) == 2


async def test_a_read_keeps_nothing_it_did(store: Store) -> None:
    await store.put(make_turn("hi", chat="A"))

    def sneaky(conn: Connection) -> int:
        conn.execute(update(conversations).values(failures=5))
        return _failures(conn)

    assert await store.db.read(sneaky) == 5
    assert await store.db.read(_failures) == 0


async def test_sqlite_work_runs_on_the_database_thread_with_durable_commits(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kefu.db'}")
    try:
        name = await db.read(lambda _conn: threading.current_thread().name)
        synchronous = await db.read(lambda c: c.exec_driver_sql("PRAGMA synchronous").scalar())
        journal = await db.read(lambda c: c.exec_driver_sql("PRAGMA journal_mode").scalar())
    finally:
        await db.dispose()
    assert name.startswith("kefu-sqlite") and name != threading.current_thread().name
    assert synchronous == 2 and journal == "wal"  # FULL: every commit reaches the disk


async def test_a_second_process_waits_for_the_write_lock_instead_of_failing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'kefu.db'}"
    first, second = await Store.open(url), await Store.open(url)
    await first.put(make_turn("hi", chat="A"))
    order: list[str] = []

    def hold_lock(conn: Connection) -> None:
        conn.execute(update(conversations).values(failures=1))
        order.append("first holds the lock")
        time.sleep(0.3)  # another process's long transaction

    def then_write(conn: Connection) -> None:
        order.append("second writes")
        conn.execute(update(conversations).values(failures=conversations.c.failures + 1))

    try:
        holder = asyncio.ensure_future(first.db.write(hold_lock))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await second.db.write(then_write)
        waited = time.monotonic() - started
        await holder
        assert order == ["first holds the lock", "second writes"]
        assert waited >= 0.1  # BEGIN IMMEDIATE waited; no "database is locked" on upgrade
        assert await first.db.read(_failures) == 2
    finally:
        await first.close()
        await second.close()


async def test_the_event_loop_keeps_running_while_sqlite_works(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kefu.db'}")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(tick())
    await db.read(lambda conn: time.sleep(0.2))
    ticker.cancel()
    await db.dispose()
    assert ticks >= 10


async def test_conversation_rows_are_created_once(store: Store) -> None:
    key = ConversationKey("test", "A")
    first = await store.conversation(key)
    second = await store.conversation(key)
    assert first.id == second.id
    count = select(func.count()).select_from(conversations)
    assert await store.db.read(lambda conn: conn.execute(count).scalar_one()) == 1
    assert await store.db.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one()) == 1


async def test_only_lease_writes_skip_the_disk_sync(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kefu.db'}")

    def mode(conn: Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

    try:
        assert await db.write(mode, durable=False) == 1  # NORMAL: a claim's lease
        assert await db.write(mode) == 2  # FULL again for everything else
        assert await db.read(mode) == 2
    finally:
        await db.dispose()


async def test_a_non_durable_write_still_commits(store: Store) -> None:
    await store.put(make_turn("hi", chat="A"))
    await store.db.write(
        lambda conn: conn.execute(update(conversations).values(failures=3)), durable=False
    )
    assert await store.db.read(_failures) == 3


async def test_a_failed_commit_does_not_poison_the_next_transaction(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kefu.db'}")
    await db.migrate()
    failures = [OSError("disk I/O error")]

    @event.listens_for(db._sync, "commit")  # type: ignore[arg-type]
    def fail_once(_conn: Any) -> None:
        if failures:
            raise failures.pop()  # the COMMIT fails; SQLite is still inside the transaction

    def insert(conn: Connection) -> None:
        conn.execute(text("INSERT INTO alembic_version VALUES ('lost')"))

    def versions(conn: Connection) -> list[str]:
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]

    try:
        with pytest.raises(StoreError):
            await db.write(insert)
        # Nothing of the failed transaction stays, and a lease write (another durability,
        # so a PRAGMA first) and a normal write both work.
        assert "lost" not in await db.read(versions)
        await db.write(lambda c: c.execute(text("SELECT 1")), durable=False)
        await db.write(lambda c: c.execute(text("INSERT INTO alembic_version VALUES ('kept')")))
        assert "kept" in await db.read(versions)
        other = Database(f"sqlite:///{tmp_path / 'kefu.db'}")  # no lock left held
        try:
            await asyncio.wait_for(other.write(lambda c: c.execute(text("SELECT 1"))), 5)
        finally:
            await other.dispose()
    finally:
        await db.dispose()


async def test_a_raw_driver_error_is_a_store_error_and_the_next_write_works(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kefu.db'}")

    def nested_begin(conn: Connection) -> None:
        conn.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]
        conn.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]

    try:
        with pytest.raises(StoreError):
            await db.write(nested_begin)
        assert await db.write(lambda c: c.execute(text("SELECT 1")).scalar_one()) == 1
    finally:
        await db.dispose()


async def test_database_failures_come_out_as_store_errors_only(store: Store) -> None:
    from sqlalchemy import text as sql

    from core.errors import StoreConflictError, StoreError

    with pytest.raises(StoreError) as caught:
        await store.db.read(lambda conn: conn.execute(sql("SELECT * FROM no_such_table")))
    assert not isinstance(caught.value, StoreConflictError)
    from core.store.db import utcnow
    from core.store.schema import images

    row = images.insert().values(sha256="a", mime="image/png", width=1, height=1, data=b"\0",
                                 created_at=utcnow())  # fmt: skip
    await store.db.write(lambda conn: conn.execute(row))
    with pytest.raises(StoreConflictError):
        await store.db.write(lambda conn: conn.execute(row))

    def not_a_database_error(_conn: object) -> None:
        raise ValueError("a bug in the caller stays itself")

    with pytest.raises(ValueError):
        await store.db.write(not_a_database_error)


async def test_acks_are_written_before_queued_background_writes(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'kefu.db'}")
    release, started = threading.Event(), threading.Event()

    def busy(_conn: Connection) -> None:
        started.set()
        release.wait(5)

    def turns_stored(conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())

    try:
        running = asyncio.ensure_future(store.db.write(busy))
        assert await asyncio.to_thread(started.wait, 5)
        queued = [asyncio.ensure_future(store.db.write(turns_stored)) for _ in range(3)]
        await asyncio.sleep(0)
        ack = asyncio.ensure_future(store.put(make_turn("hi", chat="A")))
        await asyncio.sleep(0.05)  # the put's group commit has queued its transaction
        release.set()
        await asyncio.gather(running, ack)
        seen = await asyncio.gather(*queued)
    finally:
        await store.close()
    assert seen == [1, 1, 1]  # queued first, written after the ack
