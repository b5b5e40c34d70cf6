"""ClaimKeeper: a slow album merge keeps its claims from the other replicas."""

from __future__ import annotations

import asyncio

import pytest

from adapters.telegram import journal as journal_module
from adapters.telegram.claims import ClaimKeeper
from adapters.telegram.journal import SharedAlbumJournal
from core.store.store import Store


async def test_a_merge_slower_than_the_claim_lease_keeps_its_claims(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photo downloads on a starved machine outlive the claim lease (30 s; here 0.9 s): the
    merge renews its claims, so no other replica takes them for a dead process's and merges
    the same photos again."""
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 0.9)
    merging, other = SharedAlbumJournal(store.shared), SharedAlbumJournal(store.shared)
    album = ("42", "g7")
    for update_id in (1, 2):
        await merging.add(album, update_id, {"update_id": update_id})
    won = await merging.claim(album, (1, 2))
    async with ClaimKeeper(merging, album) as keeper:
        keeper.held.update(won)
        for _ in range(4):  # the merge takes more than three leases
            await asyncio.sleep(0.8)
            assert (await other.items(album)).orders == ()
            assert await other.merging(album)
        assert await other.claim(album, (1, 2)) == ()
    await merging.done(album, won)
    assert await other.pending() == {} and not await other.merging(album)


async def test_claims_taken_by_another_replica_are_dropped_from_the_merge(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 0.3)
    merging, other = SharedAlbumJournal(store.shared), SharedAlbumJournal(store.shared)
    album = ("42", "g8")
    await merging.add(album, 1, {"update_id": 1})
    won = await merging.claim(album, (1,))
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 0.0)  # lapsed before the keeper ran
    assert await other.claim(album, (1,)) == (1,)
    monkeypatch.setattr(journal_module, "CLAIM_LEASE_S", 0.3)
    async with ClaimKeeper(merging, album) as keeper:
        keeper.held.update(won)
        await asyncio.sleep(0.2)
        assert keeper.held == set()  # not renewed back: the other replica's claim stands
    assert await other.merging(album)
