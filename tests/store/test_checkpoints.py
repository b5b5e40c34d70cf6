"""Checkpointer: the WAL reaches the database file in the background, not in a commit."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import Connection

from core.store.checkpoints import BACKSTOP_PAGES, Checkpointer
from core.store.store import Store
from tests.conftest import make_turn


def _turns_in_file_alone(db_file: Path, copy: Path) -> int:
    """Rows in the database file without its log (what a checkpoint has copied there)."""
    shutil.copyfile(db_file, copy)
    with sqlite3.connect(copy) as connection:
        return int(connection.execute("SELECT count(*) FROM turns").fetchone()[0])


async def test_committed_turns_reach_the_database_file_without_a_checkpoint_in_the_commit(
    tmp_path: Path,
) -> None:
    db_file = tmp_path / "kefu.db"
    store = await Store.open(f"sqlite:///{db_file}")
    try:

        def autocheckpoint(conn: Connection) -> int:
            return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

        assert await store.db.read(autocheckpoint) == BACKSTOP_PAGES  # only a backstop
        for n in range(5):
            await store.put(make_turn(f"hello {n}", chat=f"c{n}"))
        for _ in range(100):  # the background checkpoint follows within its interval
            if _turns_in_file_alone(db_file, tmp_path / "copy.db") == 5:
                break
            await asyncio.sleep(0.05)
        assert _turns_in_file_alone(db_file, tmp_path / "copy.db") == 5
    finally:
        await store.close()


def test_a_checkpointer_that_saw_no_commit_starts_no_thread_and_closes(tmp_path: Path) -> None:
    checkpointer = Checkpointer(str(tmp_path / "never.db"))
    checkpointer.close()
    checkpointer.committed()  # after close: nothing starts
    assert checkpointer.checkpoints == 0
    assert not (tmp_path / "never.db").exists()
