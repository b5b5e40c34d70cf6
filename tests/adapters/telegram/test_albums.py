"""AlbumCollector: debounced, exactly-once flushes shared by every item's waiter."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from adapters.telegram import journal as journal_module
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
            ids = "+".join(str(u["message"]["message_id"]) for u in album)
            assert [t.message_id for t in turns] == [f"42:album:77:{ids}"]
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
        album = tg.updates.album(["k1", "k2"], media_group_id="88")
        for order, update in enumerate(album):
            await shared.add_item(NAMESPACE, "42:88", 1000 + order, json.dumps(update))
        runners: list[web.AppRunner] = []
        survivor, _ = await _replica(tg, store, session, runners)
        try:
            for _ in range(100):
                if await _stored_turns(store):
                    break
                await asyncio.sleep(0.05)
            (turn,) = await _stored_turns(store)
            ids = "+".join(str(u["message"]["message_id"]) for u in album)
            assert turn.message_id == f"42:album:88:{ids}" and len(turn.images) == 2
        finally:
            await survivor.stop()
            for runner in runners:
                await runner.cleanup()


async def _wait_for_turns(store: Store, count: int, timeout_s: float = 8.0) -> list[Turn]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(turns := await _stored_turns(store)) < count:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    return turns


async def test_an_album_abandoned_by_a_killed_replica_is_stored_by_one_already_running(
    store: Store,
) -> None:
    """A replica journals (and acknowledges) two photos, then is killed in the debounce and
    never restarted. The other replica was running all along, so it never replays the
    journal at start and never saw the album: it must still store it (it never did)."""
    async with FakeTelegramServer() as tg, aiohttp.ClientSession() as session:
        for file_id in ("a1", "a2"):
            host_photo(tg, file_id)
        runners: list[web.AppRunner] = []
        survivor, _ = await _replica(tg, store, session, runners)
        try:
            album = tg.updates.album(["a1", "a2"], media_group_id="66")
            for update in album:  # what the killed replica wrote before acknowledging
                await store.shared.add_item(NAMESPACE, "42:66", update["update_id"],
                                            json.dumps(update))  # fmt: skip
            (turn,) = await _wait_for_turns(store, 1)
            assert len(turn.images) == 2
            await asyncio.sleep(1.0)
            assert len(await _stored_turns(store)) == 1  # stored once
            assert await store.shared.open_groups(NAMESPACE) == []
        finally:
            await survivor.stop()
            for runner in runners:
                await runner.cleanup()


async def test_a_photo_acknowledged_after_its_album_was_stored_is_not_lost(store: Store) -> None:
    """Photo 3 reaches a replica only after the debounce (a restart held it up): it was
    answered 200, so it must end in the inbox. It used to share the album's inbox id and
    was dropped as a duplicate. A redelivery of photo 2 is still not stored again."""
    async with FakeTelegramServer() as tg, aiohttp.ClientSession() as session:
        for file_id in ("l1", "l2", "l3"):
            host_photo(tg, file_id)
        runners: list[web.AppRunner] = []
        first, rig_a = await _replica(tg, store, session, runners)
        second, rig_b = await _replica(tg, store, session, runners)
        try:
            album = tg.updates.album(["l1", "l2", "l3"], caption="three?", media_group_id="55")
            for update in album[:2]:
                assert (await rig_a.post(update)).status == 200
            assert [len(t.images) for t in await _wait_for_turns(store, 1)] == [2]
            assert (await rig_b.post(album[2])).status == 200  # late
            assert (await rig_a.post(album[1])).status == 200  # a redelivery
            turns = await _wait_for_turns(store, 2)
            await asyncio.sleep(1.5)  # anything stored twice shows now
            turns = await _stored_turns(store)
            assert [len(t.images) for t in turns] == [2, 1]
            assert turns[0].text == "three?"
            assert await store.shared.open_groups(NAMESPACE) == []
        finally:
            for adapter in (first, second):
                await adapter.stop()
            for runner in runners:
                await runner.cleanup()


async def test_a_merge_slower_than_its_claim_still_names_each_photo_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photo downloads that outlive the merge's claim (30 s; here at once) must not make
    the merge take its own photos in a second time (seen at load 10: one album turn with
    its first photo and caption twice)."""
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 0.0)
    async with FakeTelegramServer() as tg, aiohttp.ClientSession() as session:
        for file_id in ("o1", "o2"):
            host_photo(tg, file_id)
        runners: list[web.AppRunner] = []
        replica, rig = await _replica(tg, store, session, runners)
        try:
            for update in tg.updates.album(["o1", "o2"], caption="once?", media_group_id="44"):
                assert (await rig.post(update)).status == 200
            (turn,) = await _wait_for_turns(store, 1)
            assert len(turn.images) == 2 and turn.text == "once?"
        finally:
            await replica.stop()
            for runner in runners:
                await runner.cleanup()
