"""Polling mode: the offset never confirms an update that is not durable in the inbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.telegram.adapter import ALLOWED_UPDATES
from adapters.telegram.polling import PollCursor
from tests.adapters.telegram.conftest import MemoryInbox, eventually, host_photo
from tests.fakes.telegram_server import FakeTelegramServer


def test_cursor_offset_stays_below_waiting_and_failed_updates() -> None:
    cursor = PollCursor()
    assert cursor.offset is None  # first call: everything Telegram still holds
    for update_id in (10, 11, 12):
        cursor.seen(update_id)
    assert cursor.offset == 13
    cursor.hold(11)
    assert cursor.offset == 11 and cursor.waiting
    assert not cursor.is_new(12) and cursor.is_new(13)
    cursor.release(11)
    assert cursor.offset == 13
    cursor.rewind(12)
    assert cursor.offset == 12 and cursor.is_new(12)


def _offsets(tg: FakeTelegramServer) -> list[int | None]:
    return [call.params.get("offset") for call in tg.calls_of("getUpdates")]


async def test_polling_stores_updates_and_then_confirms_them(
    tg: FakeTelegramServer, inbox: MemoryInbox, polling_adapter: Callable[..., Any]
) -> None:
    first, second = tg.updates.text("hello"), tg.updates.text("are you there?")
    tg.enqueue(first, second)  # queued before start: nothing may be dropped
    await polling_adapter()
    await eventually(lambda: len(inbox.turns) == 2)
    assert [t.text for t in inbox.turns] == ["hello", "are you there?"]
    (delete,) = tg.calls_of("deleteWebhook")
    assert "drop_pending_updates" not in delete.params
    assert delete.at < tg.calls_of("getUpdates")[0].at
    await eventually(lambda: tg.pending_updates == [])
    await eventually(lambda: second["update_id"] + 1 in _offsets(tg))
    assert _offsets(tg)[0] is None
    assert tg.calls_of("getUpdates")[0].params["allowed_updates"] == list(ALLOWED_UPDATES)


async def test_redelivered_update_after_restart_is_a_duplicate(
    tg: FakeTelegramServer, inbox: MemoryInbox, polling_adapter: Callable[..., Any]
) -> None:
    update = tg.updates.text("only once please")
    tg.enqueue(update)
    first = await polling_adapter()
    await eventually(lambda: len(inbox.turns) == 1)
    await first.stop()
    tg.enqueue(update)  # Telegram delivers it again after the restart
    await polling_adapter()
    await eventually(lambda: inbox.duplicates == 1)
    assert len(inbox.turns) == 1


async def test_store_failure_keeps_the_update_unconfirmed_until_it_is_stored(
    tg: FakeTelegramServer, inbox: MemoryInbox, polling_adapter: Callable[..., Any]
) -> None:
    inbox.fail_next = 1
    update = tg.updates.text("do not lose me")
    tg.enqueue(update)
    await polling_adapter()
    await eventually(lambda: len(inbox.turns) == 1, within_s=5)
    stored_at = inbox.stored_at[0]
    before = [c.params.get("offset") for c in tg.calls_of("getUpdates") if c.at < stored_at]
    assert len(before) >= 2  # fetched, failed, fetched again
    assert all(offset is None or offset <= update["update_id"] for offset in before)
    assert inbox.turns[0].text == "do not lose me"


async def test_album_items_hold_the_offset_until_the_merged_turn_is_stored(
    tg: FakeTelegramServer, inbox: MemoryInbox, polling_adapter: Callable[..., Any]
) -> None:
    for file_id in ("p1", "p2", "p3"):
        host_photo(tg, file_id)
    album = tg.updates.album(["p1", "p2", "p3"], caption="which colour?", media_group_id="777")
    tg.enqueue(*album)
    await polling_adapter(album_debounce_s=0.4)
    await eventually(lambda: len(inbox.turns) == 1)
    stored_at = inbox.stored_at[0]
    first_id, last_id = album[0]["update_id"], album[-1]["update_id"]
    before = [c.params.get("offset") for c in tg.calls_of("getUpdates") if c.at < stored_at]
    assert len(before) >= 2  # it kept polling while the album waited
    assert all(offset is None or offset <= first_id for offset in before)
    await eventually(lambda: last_id + 1 in _offsets(tg))
    (turn,) = inbox.turns
    ids = "+".join(str(u["message"]["message_id"]) for u in album)
    assert turn.message_id == f"42:album:777:{ids}"
    assert len(turn.images) == 3 and turn.text == "which colour?"
