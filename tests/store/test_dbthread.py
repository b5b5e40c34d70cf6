"""DatabaseThread: one thread, urgent jobs before queued ones, FIFO otherwise."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.store.dbthread import DatabaseThread, Priority


async def _blocked(thread: DatabaseThread) -> tuple[threading.Event, asyncio.Future[None]]:
    """A job that holds the thread until the returned event is set."""
    release, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(5)

    holder = asyncio.ensure_future(thread.run(hold))
    assert await asyncio.to_thread(started.wait, 5)
    return release, holder


async def test_an_urgent_job_runs_before_the_queued_normal_ones() -> None:
    thread = DatabaseThread("test-db")
    ran: list[str] = []
    try:
        release, holder = await _blocked(thread)
        normal = [asyncio.ensure_future(thread.run(ran.append, f"n{i}")) for i in range(3)]
        await asyncio.sleep(0)  # queued in this order
        urgent = asyncio.ensure_future(thread.run(ran.append, "u", priority=Priority.URGENT))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holder, urgent, *normal)
    finally:
        await asyncio.to_thread(thread.stop)
    assert ran == ["u", "n0", "n1", "n2"]


async def test_jobs_run_on_one_named_thread_and_return_or_raise() -> None:
    thread = DatabaseThread("test-db")
    try:
        names = await asyncio.gather(
            *(thread.run(lambda: threading.current_thread().name) for _ in range(4))
        )

        def fail() -> None:
            raise ValueError("bad")

        with pytest.raises(ValueError, match="bad"):
            await thread.run(fail)
    finally:
        await asyncio.to_thread(thread.stop)
    assert set(names) == {"test-db"}


async def test_a_job_cancelled_before_it_starts_is_skipped() -> None:
    thread = DatabaseThread("test-db")
    ran: list[str] = []
    try:
        release, holder = await _blocked(thread)
        skipped = asyncio.ensure_future(thread.run(ran.append, "cancelled"))
        kept = asyncio.ensure_future(thread.run(ran.append, "kept"))
        await asyncio.sleep(0)
        skipped.cancel()
        release.set()
        await asyncio.gather(holder, kept)
        with pytest.raises(asyncio.CancelledError):
            await skipped
    finally:
        await asyncio.to_thread(thread.stop)
    assert ran == ["kept"]


async def test_stop_runs_what_is_queued_then_refuses_new_jobs() -> None:
    thread = DatabaseThread("test-db")
    ran: list[int] = []
    release, holder = await _blocked(thread)
    queued = [asyncio.ensure_future(thread.run(ran.append, i)) for i in range(3)]
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(asyncio.to_thread(thread.stop))
    release.set()
    await asyncio.gather(holder, *queued, stopping)
    assert ran == [0, 1, 2]
    with pytest.raises(RuntimeError, match="stopped"):
        await thread.run(ran.append, 3)
