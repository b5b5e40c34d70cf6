"""The database handle: whole transactions as plain functions, run where they cost least.

Every store operation is a synchronous function of a SQLAlchemy :class:`Connection` that
runs as one unit:

* **SQLite** (the default, no service needed): on one dedicated thread that owns the only
  connection. One thread hop per transaction instead of several per statement (an
  aiosqlite statement costs ~300 µs of CPU here, a whole small transaction on the thread
  ~150 µs), and no lock contention inside the process. Write transactions start with
  ``BEGIN IMMEDIATE`` so that another process (``serve --role worker``) waits for the lock
  instead of failing on upgrade, and every commit is synced to disk (``synchronous=FULL``):
  an acknowledged turn survives a power cut, and group commit spreads the sync over a batch.
  Writes a request waits on (``urgent``: storing new turns) run before queued background
  transactions (:mod:`core.store.dbthread`), and WAL checkpoints run on their own thread
  and connection instead of inside a commit (:mod:`core.store.checkpoints`).
* **PostgreSQL**: on the event loop through asyncpg (``run_sync``), one pooled connection
  per transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, Connection, Engine, Table, event, literal_column
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

from core.errors import StoreConflictError, StoreError
from core.store.checkpoints import Checkpointer, backstop
from core.store.dbthread import DatabaseThread, Priority

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
T = TypeVar("T")
Work = Callable[[Connection], T]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every datetime leaving the store is UTC-aware."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[-1] if ":///" in url else ""


def _create_sqlite_engine(url: str) -> Engine:
    path = _sqlite_path(url)
    memory = path in ("", ":memory:")
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_sync_engine(
        f"sqlite:///{path}" if not memory else "sqlite://",
        connect_args={"timeout": 30, "check_same_thread": False},
        poolclass=StaticPool,  # one connection, used by the one database thread
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if not memory:
            backstop(dbapi_connection)  # checkpoints run in the background (Checkpointer)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.info.pop("kefu_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextlib.contextmanager
def _as_store_errors() -> Iterator[None]:
    """The store's one error type outward: database and driver failures become StoreError
    (a uniqueness violation StoreConflictError), so no caller handles SQLAlchemy's."""
    try:
        yield
    except IntegrityError as exc:
        raise StoreConflictError(f"conflicting write: {exc.orig}") from exc
    except (SQLAlchemyError, sqlite3.Error, asyncpg.PostgresError, OSError) as exc:
        raise StoreError(f"database error: {exc}") from exc


class Database:
    """Runs store transactions for one database URL.

    Args:
        url: ``sqlite:///path`` (or ``sqlite+aiosqlite:///path``) or
            ``postgresql+asyncpg://…``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        self._thread: DatabaseThread | None = None
        self._conn: Connection | None = None
        self._synced = True  # the connection starts with synchronous=FULL
        self._checkpointer: Checkpointer | None = None
        if self.dialect == "sqlite":
            self._sync = _create_sqlite_engine(url)
            self._thread = DatabaseThread("kefu-sqlite")
            if _sqlite_path(url) not in ("", ":memory:"):
                self._checkpointer = Checkpointer(_sqlite_path(url))
        else:
            self._async = create_async_engine(
                url, pool_size=20, max_overflow=10, pool_pre_ping=True
            )

    async def write(self, work: Work[T], *, durable: bool = True, urgent: bool = False) -> T:
        """Run ``work`` in one transaction and commit it; roll back if it raises.

        Args:
            work: The transaction's body.
            durable: Wait until the commit is on disk. Only writes that nothing depends on
                after a power cut skip it: a lease (claims, renewals) that is lost with the
                machine is simply taken again after it expires.
            urgent: A request waits for this write before it is acknowledged: on SQLite it
                runs before every queued transaction that is not urgent.
        """
        with _as_store_errors():
            if self._async is not None:
                async with self._async.begin() as conn:
                    if not durable:
                        await conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    return await conn.run_sync(work)
            priority = Priority.URGENT if urgent else Priority.NORMAL
            return await self._on_thread(self._sqlite_write, work, durable, priority=priority)

    async def read(self, work: Work[T]) -> T:
        """Run ``work`` on a connection and roll back whatever it did."""
        with _as_store_errors():
            if self._async is not None:
                async with self._async.connect() as conn:
                    return await conn.run_sync(work)
            return await self._on_thread(self._sqlite_read, work)

    async def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> Callable[[], Awaitable[None]] | None:
        """Call ``callback`` whenever another process sends ``NOTIFY channel`` (PostgreSQL).

        Returns:
            A coroutine function that stops listening, or None where the database cannot
            notify other processes (SQLite): callers keep polling there.

        Raises:
            StoreError: the listening connection could not be opened.
        """
        if self._async is None:
            return None
        dsn = self._async.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            connection = await asyncpg.connect(dsn)
            await connection.add_listener(channel, lambda *_: callback())
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot listen on {channel}: {exc}") from exc

        async def stop() -> None:
            await connection.close()

        return stop

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        await self.write(_upgrade)

    async def dispose(self) -> None:
        if self._async is not None:
            await self._async.dispose()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.close)
        if self._sync is not None and self._thread is not None:
            await self._on_thread(self._close_connection)
            await asyncio.to_thread(self._thread.stop)

    async def _on_thread(
        self, function: Callable[..., T], *args: Any, priority: Priority = Priority.NORMAL
    ) -> T:
        assert self._thread is not None
        return await self._thread.run(function, *args, priority=priority)

    def _connection(self) -> Connection:
        # One connection, kept open on the database thread: checking a connection out and
        # back in for every transaction costs as much CPU as the transaction itself.
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            assert self._sync is not None
            self._conn = self._sync.connect()
            self._synced = True
        return self._conn

    def _sqlite_write(self, work: Work[T], durable: bool) -> T:
        conn = self._connection()
        with self._guarded(conn):
            if durable != self._synced:
                # Between transactions, on the driver's connection (not transactional).
                mode = "FULL" if durable else "NORMAL"
                conn.connection.driver_connection.execute(f"PRAGMA synchronous={mode}")  # type: ignore[union-attr]
                self._synced = durable
            conn.info["kefu_write"] = True
            with conn.begin():
                result = work(conn)
            if self._checkpointer is not None:
                self._checkpointer.committed()
            return result

    def _sqlite_read(self, work: Work[T]) -> T:
        conn = self._connection()
        with self._guarded(conn):
            try:
                return work(conn)
            finally:
                if not conn.invalidated:
                    conn.rollback()

    @contextlib.contextmanager
    def _guarded(self, conn: Connection) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            self._recover(conn, exc)
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"database error: {exc}") from exc
            raise

    def _recover(self, conn: Connection, exc: BaseException) -> None:
        """After a failure, make sure no transaction is left open on the shared connection.

        A failed COMMIT (or a BEGIN that timed out waiting for the lock) can leave SQLite
        inside a transaction that SQLAlchemy no longer tracks; the next transaction would
        fail, and the open one would hold the lock against other processes. Start afresh.
        """
        driver = conn.connection.driver_connection if not conn.invalidated else None
        stuck = driver is not None and driver.in_transaction
        if stuck:
            with contextlib.suppress(sqlite3.Error):
                driver.rollback()  # type: ignore[union-attr]
        if stuck or conn.in_transaction() or isinstance(exc, DBAPIError | sqlite3.Error):
            conn.invalidate()
            self._conn = None

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._sync is not None:
            self._sync.dispose()


def migration_config(connection: Connection) -> Config:
    """Alembic configuration that runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(migration_config(connection), "head")


def is_in(column: ColumnElement[str], *values: str) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` with the values written into the SQL, not bound.

    A prepared statement's generic plan can only use a partial index (``WHERE status IN
    ('pending', 'processing')``) when the query names the same constants.
    """
    literals: list[ColumnElement[str]] = [
        literal_column("'" + value.replace("'", "''") + "'") for value in values
    ]
    return column.in_(literals)


def insert_ignore(dialect: str, table: Table, **values: Any) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING for SQLite and PostgreSQL.

    Without ``values`` the statement takes its rows as execute parameters (executemany).
    """
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    if values:
        insert = insert.values(**values)
    return insert.on_conflict_do_nothing()
