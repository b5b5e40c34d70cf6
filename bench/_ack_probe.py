"""Where a webhook ack's time goes, measured inside the bench server (``bench/_edge_server.py``).

Installed by wrapping, at run time, the functions on the ack path and the store's database
thread; kefu's code is not changed for it. Each signed webhook request gets a record of
when it passed each step; ``GET /bench/ack-phases`` returns per-phase percentiles since the
last call, the breakdown of the slowest 1 % of acks, and what the database thread spent its
time on meanwhile (every transaction, by caller; ``checkpoints``: transactions during which
the main database file was written, i.e. a WAL checkpoint ran in or beside them).

Phases of one ack (server side; the client's time minus ``total`` is the rest: the client's
own loop, the kernel, aiohttp parsing the request line and headers):

* ``before_body``: handler entered → body read starts (source lookup, signature precheck)
* ``body``: reading the body; ``verify``: the HMAC check
* ``parse``: JSON parsing, validation and building the turn, up to ``Store.put``
* ``batch_wait``: ``put`` → its group-commit batch is handed to the database thread
  (waiting while the previous batch was being written)
* ``db_queue``: waiting on the database thread behind other transactions
* ``begin``: ``BEGIN IMMEDIATE`` (the write lock), ``insert``: the batch's statements,
  ``commit``: COMMIT with its fsync (and any WAL checkpoint it triggers)
* ``wake``: the thread finished → the handler resumes on the loop
* ``respond``: ``put`` returned → the handler returns its 202
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

import adapters.webhook.adapter as webhook_adapter
from core.store.batching import WriteBatcher
from core.store.db import Database, _sqlite_path
from core.store.store import Store

SMALL_BODY = 64 << 10  # the other senders' messages; the photos are not acks under test
PHASES = ("before_body", "body", "verify", "parse", "batch_wait", "db_queue", "begin",
          "insert", "commit", "wake", "respond", "total")  # fmt: skip


@dataclass(slots=True)
class _Call:
    """One transaction on the database thread."""

    label: str
    submitted: float
    started: float = 0.0
    work_started: float = 0.0
    work_ended: float = 0.0
    ended: float = 0.0
    acks: int = 0  # webhook turns written by it
    # The main database file changed while it ran: a WAL checkpoint ran in it (the writer's
    # automatic one) or beside it (kefu's background checkpointer, core/store/checkpoints).
    checkpointed: bool = False


@dataclass(slots=True)
class _Ack:
    marks: dict[str, float] = field(default_factory=dict)
    call: _Call | None = None

    def phases(self) -> dict[str, float] | None:
        m, c = self.marks, self.call
        needed = ("handler", "body", "body_read", "verified", "put", "put_done", "done")
        if c is None or not c.ended or any(k not in m for k in needed):
            return None
        return {
            "before_body": m["body"] - m["handler"], "body": m["body_read"] - m["body"],
            "verify": m["verified"] - m["body_read"], "parse": m["put"] - m["verified"],
            "batch_wait": c.submitted - m["put"], "db_queue": c.started - c.submitted,
            "begin": c.work_started - c.started, "insert": c.work_ended - c.work_started,
            "commit": c.ended - c.work_ended, "wake": m["put_done"] - c.ended,
            "respond": m["done"] - m["put_done"], "total": m["done"] - m["handler"],
        }  # fmt: skip


class AckProbe:
    """Records the ack path of every webhook request and every database transaction."""

    def __init__(self) -> None:
        self._current: contextvars.ContextVar[_Ack | None] = contextvars.ContextVar(
            "ack", default=None
        )
        self._by_turn: dict[int, _Ack] = {}
        self._thread_call = threading.local()
        self.acks: list[_Ack] = []
        self.calls: list[_Call] = []
        self.lock = threading.Lock()

    def mark(self, name: str) -> None:
        ack = self._current.get()
        if ack is not None:
            ack.marks[name] = time.perf_counter()

    def install(self, app: web.Application) -> None:
        """Wrap the ack path's steps and the database thread; add the report route."""
        app.middlewares.append(self._middleware)
        app.router.add_get("/bench/ack-phases", self.report)
        self._wrap_webhook_steps()
        self._wrap_store()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        small = (request.content_length or 0) <= SMALL_BODY
        if not request.path.startswith("/webhooks/") or not small:
            return await handler(request)  # type: ignore[no-any-return]
        ack = _Ack()
        token = self._current.set(ack)
        ack.marks["handler"] = time.perf_counter()
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            ack.marks["done"] = time.perf_counter()
            self._current.reset(token)
            with self.lock:
                self.acks.append(ack)

    def _wrap_webhook_steps(self) -> None:
        read_body = webhook_adapter.read_capped_body
        verify = webhook_adapter.SignatureVerifier.verify

        async def timed_read(request: web.Request, max_bytes: int) -> bytes:
            self.mark("body")
            body = await read_body(request, max_bytes)
            self.mark("body_read")
            return body

        def timed_verify(verifier: Any, headers: Any, body: bytes) -> Any:
            result = verify(verifier, headers, body)
            self.mark("verified")
            return result

        webhook_adapter.read_capped_body = timed_read  # type: ignore[assignment]
        webhook_adapter.SignatureVerifier.verify = timed_verify  # type: ignore[method-assign,assignment]

    def _wrap_store(self) -> None:
        put, on_thread = Store.put, Database._on_thread
        probe = self

        async def timed_put(store: Store, turn: Any) -> Any:
            ack = probe._current.get()
            if ack is not None:
                ack.marks["put"] = time.perf_counter()
                probe._by_turn[id(turn)] = ack
            try:
                return await put(store, turn)
            finally:
                if ack is not None:
                    ack.marks["put_done"] = time.perf_counter()
                    probe._by_turn.pop(id(turn), None)

        async def timed_on_thread(
            db: Database, function: Callable[..., Any], *args: Any, **kwargs: Any
        ) -> Any:
            work = args[0] if args and callable(args[0]) else None
            call = _Call(_label(function, work), time.perf_counter())
            if work is not None:
                args = (probe._timed_work(call, work), *args[1:])
            path = Path(_sqlite_path(db.url)) if db.dialect == "sqlite" else None
            return await on_thread(db, probe._timed_call(call, function, path), *args, **kwargs)

        Store.put = timed_put  # type: ignore[method-assign,assignment]
        Database._on_thread = timed_on_thread  # type: ignore[method-assign,assignment]

    def _timed_call(
        self, call: _Call, function: Callable[..., Any], path: Path | None
    ) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            before = _mtime(path)
            call.started = time.perf_counter()
            self._thread_call.value = call
            try:
                return function(*args)
            finally:
                call.ended = time.perf_counter()
                call.checkpointed = _mtime(path) != before
                with self.lock:
                    self.calls.append(call)

        return run

    def _timed_work(self, call: _Call, work: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(conn: Any) -> Any:
            call.work_started = time.perf_counter()
            try:
                return work(conn)
            finally:
                call.work_ended = time.perf_counter()

        return run

    def attach_batch(self, turns: Sequence[Any]) -> None:
        """Called on the database thread by the inbox group commit with its batch."""
        call: _Call | None = getattr(self._thread_call, "value", None)
        if call is None:
            return
        call.label = "inbox group commit (acks)"
        for turn in turns:
            ack = self._by_turn.get(id(turn))
            if ack is not None:
                ack.call = call
                call.acks += 1

    async def report(self, _request: web.Request) -> web.Response:
        """Percentiles per phase since the last call, then reset."""
        with self.lock:
            acks, self.acks = self.acks, []
            calls, self.calls = self.calls, []
        return web.json_response(summarise(acks, calls))


def _mtime(path: Path | None) -> int:
    if path is None:
        return 0
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _label(function: Callable[..., Any], work: Callable[..., Any] | None) -> str:
    kind = "write" if function.__name__ == "_sqlite_write" else "read"
    name = getattr(work, "__qualname__", "?").replace(".<locals>", "").replace(".<lambda>", "")
    for cell in getattr(work, "__closure__", None) or ():  # a group commit: which one
        with contextlib.suppress(ValueError):
            if isinstance(cell.cell_contents, WriteBatcher):
                name = f"group commit {cell.cell_contents.name}"
    return f"{kind} {name}"


def _pick(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * q))] * 1000, 2)


def summarise(acks: list[_Ack], calls: list[_Call]) -> dict[str, Any]:
    done = [(a, p) for a, p in ((a, a.phases()) for a in acks) if p is not None]
    rows = [p for _, p in done]
    if not rows:
        return {"acks": 0}
    phases = {}
    for name in PHASES:
        values = sorted(r[name] for r in rows)
        phases[name] = {"p50": _pick(values, 0.5), "p99": _pick(values, 0.99),
                        "max": round(values[-1] * 1000, 2)}  # fmt: skip
    slowest = sorted(done, key=lambda ap: ap[1]["total"])[-max(1, len(rows) // 100) :]
    slow_mean = {n: round(sum(p[n] for _, p in slowest) / len(slowest) * 1000, 2) for n in PHASES}
    return {"acks": len(rows), "phases_ms": phases, "slowest_1pct_mean_ms": slow_mean,
            "slowest_1pct_waited_behind_ms": _waited_behind([a for a, _ in slowest], calls),
            "db_thread": _thread_use(calls)}  # fmt: skip


def _waited_behind(acks: list[_Ack], calls: list[_Call]) -> dict[str, float]:
    """Per caller, the database thread's time spent on other transactions while these acks
    waited for theirs to start (from ``put`` to their transaction's start), on average."""
    behind: dict[str, float] = defaultdict(float)
    for ack in acks:
        assert ack.call is not None
        start, end = ack.marks["put"], ack.call.started
        for call in calls:
            overlap = min(end, call.ended) - max(start, call.started)
            if call is not ack.call and overlap > 0:
                behind[call.label] += overlap
    ranked = sorted(behind.items(), key=lambda kv: -kv[1])
    return {label: round(total / len(acks) * 1000, 2) for label, total in ranked}


def _thread_use(calls: list[_Call]) -> dict[str, Any]:
    """What the database thread ran: per caller, count, busy time and the slow tail."""
    if not calls:
        return {}
    span = max(c.ended for c in calls) - min(c.started for c in calls)
    by_label: dict[str, list[_Call]] = defaultdict(list)
    for call in calls:
        by_label[call.label].append(call)
    checkpoints = sorted(c.ended - c.work_ended for c in calls if c.checkpointed and c.work_ended)
    out: dict[str, Any] = {
        "span_s": round(span, 2),
        "busy_pct": round(sum(c.ended - c.started for c in calls) / span * 100, 1),
        "checkpoints": len(checkpoints),
        "checkpoint_commit_ms": [round(x * 1000, 1) for x in checkpoints[-5:]],
    }
    for label, group in sorted(by_label.items(), key=lambda kv: -len(kv[1])):
        runs = sorted(c.ended - c.started for c in group)
        commits = sorted(
            c.ended - c.work_ended for c in group if c.work_ended and not c.checkpointed
        )
        out[label] = {"n": len(group), "busy_s": round(sum(runs), 3),
                      "run_p50_ms": _pick(runs, 0.5), "run_p99_ms": _pick(runs, 0.99),
                      "run_max_ms": round(runs[-1] * 1000, 2),
                      **({"commit_p99_ms": _pick(commits, 0.99),  # without checkpoints
                          "commit_max_ms": round(commits[-1] * 1000, 2)} if commits else {})}  # fmt: skip
    return out


def wrap_batch_writer(
    probe: AckProbe, write_many: Callable[[Any, Sequence[Any]], Any]
) -> Callable[[Any, Sequence[Any]], Any]:
    """The inbox group commit's ``write_many``, telling the probe which turns it writes."""

    def run(conn: Any, batch: Sequence[Any]) -> Any:
        probe.attach_batch(batch)
        return write_many(conn, batch)

    return run
