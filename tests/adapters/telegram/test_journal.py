"""SharedAlbumJournal: album items in the shared store, claimed by one replica at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.telegram import journal as journal_module
from adapters.telegram.journal import SharedAlbumJournal
from adapters.telegram.local_journal import AlbumJournal
from core.store.store import Store


async def test_items_claimed_by_one_replica_are_not_merged_by_another(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica A reads photos 1–2 and downloads them; B, flushing photo 3, must not merge
    1–2 again (the customer got both photos answered twice), only what A has not claimed.
    A claim left by a killed replica lapses, and its items are merged by another."""
    first, second = SharedAlbumJournal(store.shared), SharedAlbumJournal(store.shared)
    album = ("42", "g5")
    for update_id in (1, 2):
        await first.add(album, update_id, {"update_id": update_id})
    assert await first.claim(album, (await first.items(album)).orders) == (1, 2)
    await second.add(album, 3, {"update_id": 3})
    assert (await second.items(album)).orders == (3,)
    assert await second.claim(album, (1, 2, 3)) == (3,)  # A's fresh claims win
    await second.release(album, (3,))
    await first.done(album, (1, 2))
    assert (await second.items(album)).orders == (3,)
    assert await second.claim(album, (3,)) == (3,)
    # The claimer is killed: 30 s later its claim is a dead process's.
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 0.0)
    assert (await first.items(album)).orders == (3,)
    assert await first.claim(album, (3,)) == (3,)
    await first.done(album, (3,))
    assert await first.albums() == [] and await second.pending() == {}


async def test_a_renewal_keeps_only_the_claims_this_process_still_holds(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A claim that lapsed and was taken by another replica is not renewed back."""
    first, second = SharedAlbumJournal(store.shared), SharedAlbumJournal(store.shared)
    album = ("42", "g6")
    for update_id in (1, 2):
        await first.add(album, update_id, {"update_id": update_id})
    assert await first.claim(album, (1, 2)) == (1, 2)
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 0.0)  # first's claims lapse
    assert await second.claim(album, (1,)) == (1,)
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 30.0)
    assert await first.renew(album, (1, 2)) == (2,)
    assert await second.renew(album, (1,)) == (1,) and await second.renew(album, (2,)) == ()
    await first.done(album, (2,))
    assert await first.renew(album, (2,)) == ()  # done: nothing held
    local = AlbumJournal(tmp_path / "albums.db")  # one process: claims live in its memory
    await local.open()
    try:
        assert await local.claim(album, (5, 6)) == (5, 6)
        assert await local.renew(album, (5, 6, 7)) == (5, 6)
    finally:
        await local.close()
