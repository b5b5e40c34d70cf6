"""AlbumCollector: debounced, exactly-once flushes shared by every item's waiter."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.albums import AlbumCollector
from adapters.telegram.journal import NAMESPACE
from core.model.turn import Turn
from core.ports import AdapterContext
from core.store.schema import inbox
from core.store.store import Store
from tests.adapters.telegram.conftest import MemoryInbox, WebhookRig, host_photo, webhook_settings
from tests.fakes.telegram_server import FakeTelegramServer


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


# -- one album spread over two replicas (two adapters, one store) ----------------------------


async def _replica(tg: FakeTelegramServer, store: Store, session: aiohttp.ClientSession,
                   runners: list[web.AppRunner]) -> tuple[TelegramAdapter, WebhookRig]:  # fmt: skip
    app = web.Application()
    context = AdapterContext(inbox=store, shared=store.shared, web=app)
    adapter = TelegramAdapter(context, webhook_settings(tg, album_debounce_s=0.4))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    runners.append(runner)
    await adapter.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
    return adapter, WebhookRig(adapter, MemoryInbox(), tg, url, session)


async def _stored_turns(store: Store) -> list[Turn]:
    ids = await store.db.read(
        lambda conn: list(conn.execute(select(inbox.c.turn_id).order_by(inbox.c.id)).scalars())
    )
    return [await store.load_turn(turn_id) for turn_id in ids]


async def test_an_album_spread_over_two_replicas_becomes_one_whole_turn(store: Store) -> None:
    """A load balancer sends items 1 and 3 to one replica and item 2 to the other: each
    journals its items in the shared store, and the album is stored once, with all three."""
    runners: list[web.AppRunner] = []
    async with FakeTelegramServer() as tg, aiohttp.ClientSession() as session:
        for file_id in ("s1", "s2", "s3"):
            host_photo(tg, file_id, size=(80, 60))
        first, rig_a = await _replica(tg, store, session, runners)
        second, rig_b = await _replica(tg, store, session, runners)
        try:
            album = tg.updates.album(["s1", "s2", "s3"], caption="all three?", media_group_id="77")
            for update, rig in zip(album, (rig_a, rig_b, rig_a), strict=True):
                assert (await rig.post(update)).status == 200
                await asyncio.sleep(0.1)  # within the debounce: one album
            await asyncio.sleep(1.2)  # both replicas' debounces ran out
            turns = await _stored_turns(store)
            assert [t.message_id for t in turns] == ["42:album:77"]
            assert [(i.width, i.height) for i in turns[0].images] == [(80, 60)] * 3
            assert turns[0].text == "all three?"
            shared = store.shared
            assert await shared.open_groups(NAMESPACE) == []  # the journal is emptied
        finally:
            for adapter in (first, second):
                await adapter.stop()
            for runner in runners:
                await runner.cleanup()


async def test_an_album_left_by_a_killed_replica_is_stored_by_the_other(store: Store) -> None:
    """The replica that received an album dies in its debounce; the other one (or its next
    start) finds the album in the shared journal when it starts and stores it whole."""
    shared = store.shared
    async with FakeTelegramServer() as tg, aiohttp.ClientSession() as session:
        for file_id in ("k1", "k2"):
            host_photo(tg, file_id)
        for order, update in enumerate(tg.updates.album(["k1", "k2"], media_group_id="88")):
            await shared.add_item(NAMESPACE, "42:88", 1000 + order, json.dumps(update))
        runners: list[web.AppRunner] = []
        survivor, _ = await _replica(tg, store, session, runners)
        try:
            for _ in range(100):
                if await _stored_turns(store):
                    break
                await asyncio.sleep(0.05)
            (turn,) = await _stored_turns(store)
            assert turn.message_id == "42:album:88" and len(turn.images) == 2
        finally:
            await survivor.stop()
            for runner in runners:
                await runner.cleanup()
