"""WAL checkpoints on their own thread and connection, not inside a commit.

SQLite's automatic checkpoint runs inside the COMMIT that crosses ``wal_autocheckpoint``
pages: that commit copies the log into the database file and syncs it, holding the only
write connection of the process meanwhile. Under ``bench.edge`` (about 100 messages a
second) that happened every half second or so and cost the transaction 2–25 ms, and every
acknowledgement queued behind it waited as long. Here a second connection checkpoints
(``PASSIVE``: it never blocks the writer, which keeps appending to the log) at most every
``interval_s`` after commits; the writer's own automatic checkpoint stays on, at a much
larger size, as a backstop should this thread fall behind. Durability is unchanged: the
checkpoint syncs the log before copying it and the database file after (``synchronous=FULL``
on this connection too), exactly as the automatic one does.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 16_000  # ~64 MB of log: the writer checkpoints itself only past this


class Checkpointer:
    """Checkpoints one SQLite database file in the background.

    Args:
        path: The database file (in WAL mode).
        interval_s: Least time between two checkpoints.
    """

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0  # completed calls, for tests and diagnostics
        self._written = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """A write transaction committed: the log has grown (cheap; call it from the one
        thread that writes). The first call starts the thread: the file exists by then."""
        if self._thread is None and not self._stopping.is_set():
            self._thread = threading.Thread(
                target=self._main, name="kefu-sqlite-checkpoint", daemon=True
            )
            self._thread.start()
        self._written.set()

    def close(self) -> None:
        """Stop after the checkpoint under way, if any."""
        self._stopping.set()
        self._written.set()
        if self._thread is not None:
            self._thread.join()

    def _main(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            connection.execute("PRAGMA synchronous=FULL")
            while True:
                self._written.wait()
                if self._stopping.is_set():
                    return
                self._written.clear()
                self._checkpoint(connection)
                if self._stopping.wait(self.interval_s):
                    return
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            # The writer's own automatic checkpoint (BACKSTOP_PAGES) still bounds the log.
            log.warning("background checkpoint of %s failed: %s", self.path, exc)
            return
        self.checkpoints += 1


def backstop(dbapi_connection: sqlite3.Connection) -> None:
    """Let the writer checkpoint itself only when the log has grown far past normal."""
    with contextlib.closing(dbapi_connection.cursor()) as cursor:
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
