"""AlbumCollector: debounced, exactly-once flushes shared by every item's waiter."""

from __future__ import annotations

import asyncio

import pytest

from adapters.telegram.albums import AlbumCollector


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.flushes: list[list[str]] = []
        self.fail = fail

    async def __call__(self, items: list[str]) -> int:
        self.flushes.append(items)
        if self.fail:
            raise RuntimeError("store down")
        return len(self.flushes)


def collector(recorder: Recorder, debounce_s: float = 0.15) -> AlbumCollector[str, int]:
    return AlbumCollector(debounce_s, recorder, item_id=lambda item: item)


async def test_items_of_one_album_flush_once_together() -> None:
    recorder = Recorder()
    albums = collector(recorder)
    futures = [albums.add("g1", f"item{i}") for i in range(3)]
    results = await asyncio.gather(*futures)
    assert recorder.flushes == [["item0", "item1", "item2"]]
    assert results == [1, 1, 1]
    assert albums.pending == 0


async def test_each_new_item_restarts_the_quiet_period() -> None:
    recorder = Recorder()
    albums = collector(recorder, debounce_s=0.15)
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = albums.add("g1", "a")
    for name in ("b", "c", "d"):
        await asyncio.sleep(0.1)  # shorter than the debounce each time
        assert not first.done()
        albums.add("g1", name)
    await first
    assert recorder.flushes == [["a", "b", "c", "d"]]
    assert loop.time() - started >= 0.3 + 0.15 - 0.02


async def test_albums_are_independent_and_late_items_start_a_new_group() -> None:
    recorder = Recorder()
    albums = collector(recorder, debounce_s=0.05)
    await asyncio.gather(albums.add("g1", "a"), albums.add("g2", "x"))
    await albums.add("g1", "late")
    assert sorted(map(tuple, recorder.flushes)) == [("a",), ("late",), ("x",)]


async def test_a_redelivered_item_is_kept_once() -> None:
    recorder = Recorder()
    albums = collector(recorder, debounce_s=0.05)
    await asyncio.gather(albums.add("g1", "a"), albums.add("g1", "a"), albums.add("g1", "b"))
    assert recorder.flushes == [["a", "b"]]


async def test_a_failed_flush_fails_every_waiter() -> None:
    albums = collector(Recorder(fail=True), debounce_s=0.05)
    futures = [albums.add("g1", "a"), albums.add("g1", "b")]
    for future in futures:
        with pytest.raises(RuntimeError, match="store down"):
            await future


async def test_flush_all_flushes_without_waiting_for_the_debounce() -> None:
    recorder = Recorder()
    albums = collector(recorder, debounce_s=30)
    future = albums.add("g1", "a")
    await asyncio.wait_for(albums.flush_all(), 1)
    assert future.result() == 1 and recorder.flushes == [["a"]]


async def test_close_cancels_collecting_albums() -> None:
    recorder = Recorder()
    albums = collector(recorder, debounce_s=30)
    future = albums.add("g1", "a")
    await albums.close()
    assert future.cancelled() and recorder.flushes == []
