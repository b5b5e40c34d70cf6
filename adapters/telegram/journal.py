"""A small durable journal for album items received by webhook, until their turn is stored.

Why it exists: Telegram's webhook sender keeps one queue per chat and sends a chat's next
update only after the previous one was answered with a 2xx (``WebhookActor`` in
tdlib/telegram-bot-api). If the request for album item 1 waited for the merged album turn,
item 2 would never arrive during the debounce, and the album would be split (and its later
photos deduplicated away). So each album item is written here (SQLite, committed) and
acknowledged at once; the merged turn goes into the inbox after the debounce and then the
album's rows are deleted. Rows still here at start-up are albums whose turn was never
stored (a crash in the debounce window): the adapter merges and stores them then.

Two journals keep that contract: :class:`~adapters.telegram.local_journal.AlbumJournal`, a
SQLite file of this process, and :class:`SharedAlbumJournal`, the store's shared state
(``core.ports.SharedStatePort``) that every replica writes. With replicas behind a load
balancer, one album's updates may reach several of them; each writes its items to the
shared journal, and whichever replica flushes first (after the album was quiet for the
debounce, measured on the shared journal) merges every item of the album into the one turn.

An item can come after its album was stored: when the request carrying it was held past the
debounce (a replica restarting on a starved machine, a slow commit). It was acknowledged, so
it must not be lost: ``done`` forgets exactly the items that went into the stored turn and
remembers them as merged, the late item stays and becomes a turn of its own (the inbox id
of an album turn names its items, ``turns.dedupe_id``), and a redelivered item that was
already merged is dropped instead of being answered again. While one process merges items
(downloading their photos takes a while) they are claimed: no other process merges them too
(which answered the same photos twice); a claim older than ``CLAIM_LEASE_S`` is a dead
process's and is ignored, so its items are merged by another one. A merge under way renews
its claims (:class:`adapters.telegram.claims.ClaimKeeper`, every third of the lease), so a slow merge (photo
downloads on a starved machine) is not taken for a dead process's and merged twice.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import defaultdict
from typing import Any, Protocol

from core.ports import GroupItems, SharedStatePort

AlbumKey = tuple[str, str]  # (chat_id, media_group_id)
NAMESPACE = "telegram.album"
MERGED = "telegram.album.merged"  # items already in a stored turn (a redelivery is dropped)
MERGED_KEPT_DAYS = 2  # Telegram stops redelivering an update after a day
CLAIMED = "telegram.album.claimed"  # items a process is merging now (payload: wall time)
CLAIM_LEASE_S = 30.0  # longer than any merge (photo downloads included) takes


class AlbumItems(Protocol):
    """Where album items wait for their merged turn (see the module docstring)."""

    async def open(self) -> None: ...

    async def add(self, album: AlbumKey, update_id: int, payload: dict[str, Any]) -> None: ...

    async def items(self, album: AlbumKey) -> GroupItems: ...

    async def claim(self, album: AlbumKey, update_ids: tuple[int, ...]) -> tuple[int, ...]: ...

    async def release(self, album: AlbumKey, update_ids: tuple[int, ...]) -> None: ...

    async def renew(self, album: AlbumKey, update_ids: tuple[int, ...]) -> tuple[int, ...]: ...

    async def merging(self, album: AlbumKey) -> bool: ...

    async def forget_merged(self) -> int: ...

    async def done(self, album: AlbumKey, update_ids: tuple[int, ...]) -> None: ...

    async def albums(self) -> list[AlbumKey]: ...

    async def pending(self) -> dict[AlbumKey, list[dict[str, Any]]]: ...

    async def close(self) -> None: ...


def _fresh(claim: str) -> bool:
    """Whether a claim (``"<wall time> <token>"``) is younger than :data:`CLAIM_LEASE_S`."""
    return time.time() - float(claim.split(" ", 1)[0]) < CLAIM_LEASE_S


def _claim_payload(token: str) -> str:
    return f"{time.time()} {token}"


def _group(album: AlbumKey) -> str:
    return f"{album[0]}:{album[1]}"


def _album(group: str) -> AlbumKey:
    chat_id, _, media_group_id = group.rpartition(":")  # media group ids are digits
    return chat_id, media_group_id


class SharedAlbumJournal:
    """Album items in the store every replica shares (same contract as :class:`AlbumJournal`).

    Args:
        shared: The store's shared state.
    """

    def __init__(self, shared: SharedStatePort) -> None:
        self._shared = shared
        # The payload of each claim this process holds, as last written (renewals rewrite
        # its time): a renewal replaces exactly that, so a claim another process has taken
        # since is left alone.
        self._held: dict[tuple[AlbumKey, int], str] = {}

    async def open(self) -> None:
        """Nothing to open: the store is open before the adapters start."""

    async def add(self, album: AlbumKey, update_id: int, payload: dict[str, Any]) -> None:
        """Keep one album item; returns once it is committed. A repeated item is kept once.

        Raises:
            StoreError: the write failed (the webhook must not be acknowledged).
        """
        await self._shared.add_item(NAMESPACE, _group(album), update_id, json.dumps(payload))

    async def items(self, album: AlbumKey) -> GroupItems:
        """Every replica's items of the album not yet stored nor being merged, and the time
        since the newest arrived. Redelivered items already in a stored turn are dropped."""
        group = _group(album)
        found, merged, claimed = await asyncio.gather(
            self._shared.group_items(NAMESPACE, group),
            self._shared.group_items(MERGED, group),
            self._shared.group_items(CLAIMED, group),
        )
        again = tuple(order for order in found.orders if order in set(merged.orders))
        if again:
            await self._shared.drop_items(NAMESPACE, group, again)
        busy = {
            o for o, claim in zip(claimed.orders, claimed.payloads, strict=True) if _fresh(claim)
        }
        kept = [
            (o, p)
            for o, p in zip(found.orders, found.payloads, strict=True)
            if o not in again and o not in busy
        ]
        return GroupItems(tuple(p for _, p in kept), found.quiet_s, tuple(o for o, _ in kept))

    async def claim(self, album: AlbumKey, update_ids: tuple[int, ...]) -> tuple[int, ...]:
        """Claim items for this process's merge (see the module docstring); returns those
        it won (another replica's fresh claim on an item wins over this one).

        Raises:
            StoreError: a write failed (the merge must not go on).
        """
        group, token = _group(album), _claim_payload(secrets.token_hex(6))
        before = await self._shared.group_items(CLAIMED, group)
        stale = tuple(
            order
            for order, claim in zip(before.orders, before.payloads, strict=True)
            if order in update_ids and not _fresh(claim)
        )
        await self._shared.drop_items(CLAIMED, group, stale)  # a dead process's
        await asyncio.gather(
            *(self._shared.add_item(CLAIMED, group, update_id, token) for update_id in update_ids)
        )
        after = await self._shared.group_items(CLAIMED, group)
        mine = {o for o, claim in zip(after.orders, after.payloads, strict=True) if claim == token}
        won = tuple(u for u in update_ids if u in mine)
        self._held.update(((album, u), token) for u in won)
        return won

    async def renew(self, album: AlbumKey, update_ids: tuple[int, ...]) -> tuple[int, ...]:
        """Make this process's claims on ``update_ids`` fresh again (the merge is alive);
        returns those still held (a claim dropped as stale meanwhile is not taken back).

        Raises:
            StoreError: a write failed.
        """
        by_payload: dict[str, list[int]] = defaultdict(list)
        for update_id in update_ids:
            if (held := self._held.get((album, update_id))) is not None:
                by_payload[held].append(update_id)
        kept: list[int] = []
        for old, orders in by_payload.items():
            new = _claim_payload(old.split(" ", 1)[1])
            renewed = await self._shared.replace_items(
                CLAIMED, _group(album), tuple(orders), old, new
            )
            self._held.update(((album, u), new) for u in renewed)
            for lost in set(orders) - set(renewed):
                self._held.pop((album, lost), None)
            kept += renewed
        return tuple(sorted(kept))

    async def release(self, album: AlbumKey, update_ids: tuple[int, ...]) -> None:
        """Give claimed items back (their merge failed)."""
        self._forget(album, update_ids)
        await self._shared.drop_items(CLAIMED, _group(album), update_ids)

    def _forget(self, album: AlbumKey, update_ids: tuple[int, ...]) -> None:
        for update_id in update_ids:
            self._held.pop((album, update_id), None)

    async def merging(self, album: AlbumKey) -> bool:
        """Whether some replica is merging items of ``album`` now (a fresh claim)."""
        claimed = await self._shared.group_items(CLAIMED, _group(album))
        return any(_fresh(claim) for claim in claimed.payloads)

    async def done(self, album: AlbumKey, update_ids: tuple[int, ...]) -> None:
        """Remember the items ``update_ids`` as merged (a redelivery is then dropped), then
        forget them; items another replica added after they were read stay.

        Raises:
            StoreError: a write failed (the items are merged again later; the inbox dedupes).
        """
        group = _group(album)
        await asyncio.gather(
            *(self._shared.add_item(MERGED, group, update_id, "") for update_id in update_ids)
        )
        await self._shared.drop_items(NAMESPACE, group, update_ids)
        self._forget(album, update_ids)
        await self._shared.drop_items(CLAIMED, group, update_ids)

    async def forget_merged(self) -> int:
        """Forget merged items older than Telegram redelivers an update; how many."""
        return await self._shared.drop_older(MERGED, MERGED_KEPT_DAYS * 86400)

    async def albums(self) -> list[AlbumKey]:
        """Albums with items kept (by any replica)."""
        return [_album(group) for group in await self._shared.open_groups(NAMESPACE)]

    async def pending(self) -> dict[AlbumKey, list[dict[str, Any]]]:
        """Albums not yet stored as turns (by any replica), with their payloads."""
        albums: dict[AlbumKey, list[dict[str, Any]]] = {}
        for album in await self.albums():
            found = await self.items(album)
            if found.payloads:
                albums[album] = [json.loads(p) for p in found.payloads]
        return albums

    async def close(self) -> None:
        """Nothing to close: the store outlives the adapter."""
