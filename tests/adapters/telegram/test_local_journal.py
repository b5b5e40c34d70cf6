"""AlbumJournal (one process): committed album items survive a reopen until the album is done."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from adapters.telegram.local_journal import AlbumJournal
from core.errors import StoreError
from core.ports import GroupItems


async def test_items_survive_a_reopen_until_done(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "albums.db"
    journal = AlbumJournal(path)
    await journal.open()
    await journal.add(("42", "g1"), 11, {"update_id": 11, "n": 1})
    await journal.add(("42", "g1"), 10, {"update_id": 10, "n": 0})
    await journal.add(("42", "g1"), 11, {"update_id": 11, "n": 1})  # redelivered: kept once
    await journal.add(("7", "g2"), 12, {"update_id": 12})
    await journal.close()

    reopened = AlbumJournal(path)
    await reopened.open()
    pending = await reopened.pending()
    assert pending == {
        ("42", "g1"): [{"update_id": 10, "n": 0}, {"update_id": 11, "n": 1}],
        ("7", "g2"): [{"update_id": 12}],
    }
    await reopened.done(("42", "g1"), (10, 11))
    assert list(await reopened.pending()) == [("7", "g2")]
    assert await reopened.albums() == [("7", "g2")]
    await reopened.close()


async def test_done_forgets_only_the_stored_items_and_a_merged_redelivery_is_dropped(
    tmp_path: Path,
) -> None:
    """Items 1 and 2 are read and stored; item 3, acknowledged meanwhile, must stay (the
    old ``done`` deleted the whole album, item 3 with it). A redelivery of item 2 after
    the album was stored is not an item to store again."""
    journal = AlbumJournal(tmp_path / "albums.db")
    await journal.open()
    album = ("42", "g1")
    await journal.add(album, 1, {"update_id": 1})
    await journal.add(album, 2, {"update_id": 2})
    read = await journal.items(album)
    await journal.add(album, 3, {"update_id": 3})  # acknowledged after the read
    await journal.done(album, read.orders)
    left = await journal.items(album)
    assert left.orders == (3,) and left.payloads == ('{"update_id": 3}',)
    await journal.add(album, 2, {"update_id": 2})  # Telegram delivers item 2 again
    assert (await journal.items(album)).orders == (3,)
    assert await journal.pending() == {album: [{"update_id": 3}]}
    assert await journal.claim(album, (3,)) == (3,)
    assert await journal.items(album) == GroupItems((), math.inf, ())  # being merged
    assert await journal.claim(album, (3,)) == ()  # claimed once
    await journal.done(album, (3,))
    assert await journal.albums() == [] and await journal.pending() == {}
    assert await journal.forget_merged() == 0  # merged just now: kept for redeliveries
    await journal.close()


async def test_unusable_journal_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError):
        await AlbumJournal(blocker / "albums.db").open()
    closed = AlbumJournal(tmp_path / "albums.db")
    with pytest.raises(StoreError, match="not open"):
        await closed.add(("1", "g"), 1, {})
