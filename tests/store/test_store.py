"""The durable store: idempotent inbox, images by hash, history, memory reset."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from core.errors import NotFoundError, StoreError
from core.media.images import normalise_image
from core.model.turn import Audience, ConversationKey, Role
from core.store.store import Store
from tests.conftest import make_turn, png_bytes


async def test_put_is_idempotent_on_platform_message_id(store: Store) -> None:
    turn = make_turn("where is my order?", message_id="m-1")
    first = await store.put(turn)
    second = await store.put(turn)
    assert not first.duplicate and second.duplicate
    assert second.turn_id == first.turn_id
    counts = await store.counts()
    assert counts["turns"] == 1 and counts["inbox.pending"] == 1


async def test_same_message_id_on_other_platform_is_a_new_turn(store: Store) -> None:
    await store.put(make_turn(message_id="m-1", platform="telegram"))
    result = await store.put(make_turn(message_id="m-1", platform="slack"))
    assert not result.duplicate


async def test_concurrent_duplicates_store_one_turn(store: Store) -> None:
    turn = make_turn(message_id="race")
    results = await asyncio.gather(*(store.put(turn) for _ in range(8)))
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.turn_id for r in results}) == 1
    assert (await store.counts())["turns"] == 1


async def test_images_round_trip_and_are_stored_once_by_hash(store: Store) -> None:
    image = normalise_image(png_bytes(), caption="my parcel")
    first = await store.put(make_turn("damaged", images=(image,)))
    await store.put(make_turn("again", images=(image,)))
    loaded = await store.load_turn(first.turn_id)
    assert loaded.images[0].data == image.data
    assert loaded.images[0].caption == "my parcel"
    assert loaded.text == "my parcel\ndamaged"
    from sqlalchemy import func, select

    from core.store.schema import images

    count = select(func.count()).select_from(images)
    assert await store.db.read(lambda conn: conn.execute(count).scalar_one()) == 1


async def test_a_group_turn_keeps_its_audience(store: Store) -> None:
    group = replace(make_turn("where is my order?", message_id="g-1"), audience=Audience.GROUP)
    loaded = await store.load_turn((await store.put(group)).turn_id)
    private = await store.load_turn((await store.put(make_turn(message_id="p-1"))).turn_id)
    assert loaded.audience is Audience.GROUP and private.audience is Audience.PRIVATE


async def test_load_unknown_turn_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.load_turn(999_999)


async def test_history_respects_rounds_and_reset(store: Store) -> None:
    for index in range(4):
        await store.record_turn(make_turn(f"question {index}", chat="h"))
        await store.record_turn(make_turn(f"answer {index}", chat="h", role=Role.BOT))
    conversation = await store.conversation(ConversationKey("test", "h"))
    history = await store.history(conversation.id, rounds=2)
    assert [h.text for h in history] == ["question 2", "answer 2", "question 3", "answer 3"]
    assert history[0].role is Role.CUSTOMER and history[1].role is Role.BOT
    await asyncio.sleep(0.01)
    await store.reset_memory(conversation.id)
    assert await store.history(conversation.id, rounds=5) == []


async def test_open_unreachable_database_raises_store_error() -> None:
    with pytest.raises(StoreError):
        await Store.open("postgresql+asyncpg://nobody@127.0.0.1:1/none")


async def test_a_database_at_an_old_revision_upgrades_to_head_with_only_the_used_indexes(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from sqlalchemy import inspect

    from core.store.db import Database, migration_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url)
    await old.write(lambda conn: command.upgrade(migration_config(conn), "0002"))
    await old.dispose()
    store = await Store.open(url)
    names = await store.db.read(
        lambda conn: {i["name"] for i in inspect(conn).get_indexes("inbox")}
    )
    await store.close()
    assert {"ix_inbox_open_id", "ix_inbox_turn"} <= names
    assert not names & {"ix_inbox_open", "ix_inbox_status", "ix_inbox_conversation"}


async def test_watch_inbox_hears_turns_stored_by_another_process(store_url: str) -> None:
    writer, watcher = await Store.open(store_url), await Store.open(store_url)
    heard = asyncio.Event()
    try:
        stop = await watcher.watch_inbox(heard.set)
        if store_url.startswith("sqlite"):
            assert stop is None  # SQLite cannot notify other processes: workers poll
            return
        assert stop is not None
        await writer.put(make_turn("q", message_id="notify-1"))
        await asyncio.wait_for(heard.wait(), 5)
        heard.clear()
        await writer.put(make_turn("q", message_id="notify-1"))  # a duplicate stores nothing
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(heard.wait(), 0.3)
        await stop()
    finally:
        await writer.close()
        await watcher.close()
