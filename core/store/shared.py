"""The replicas' shared state in the store (:class:`core.ports.SharedStatePort`).

Keys are only ever added, so a key seen once is cached in this process: asking again costs
no query. Group items are written before the request that carried them is acknowledged, so
a kill loses none, and any replica can merge a group whose items reached several replicas.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, func, select, update

from core.ports import GroupItems
from core.store.batching import WriteBatcher
from core.store.db import Database, as_utc, insert_ignore, utcnow
from core.store.schema import group_items, shared_keys

MAX_CACHED_KEYS = 50_000


@dataclass(frozen=True, slots=True)
class _Item:
    namespace: str
    group: str
    order: int
    payload: str


class SharedState:
    """Shared keys and group items, in the store every replica uses (``Store.shared``;
    the store's ``close`` finishes the item writes under way).

    Args:
        db: The (migrated) database.
        cache_size: Most keys remembered in this process after they were seen.
    """

    def __init__(self, db: Database, cache_size: int = MAX_CACHED_KEYS) -> None:
        self.db = db
        self._cache_size = max(1, cache_size)
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Album items arrive together from many chats; one commit (one disk sync) for all
        # that arrive at once keeps each webhook's acknowledgement fast under load.
        self._items: WriteBatcher[_Item, None] = WriteBatcher(
            db,
            lambda conn, batch: _insert_items(db.dialect, conn, batch),
            "kefu-group-items",
            urgent=True,  # written before the request is acknowledged
        )

    async def close(self) -> None:
        await self._items.close()

    def _cache(self, namespace: str, key: str) -> None:
        self._seen[(namespace, key)] = None
        self._seen.move_to_end((namespace, key))
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)

    async def remember(self, namespace: str, key: str) -> None:
        """Keep ``key`` (committed when this returns).

        Raises:
            StoreError: the write failed.
        """
        if (namespace, key) in self._seen:
            return
        statement = insert_ignore(
            self.db.dialect, shared_keys, namespace=namespace, key=key, created_at=utcnow()
        )
        await self.db.write(lambda conn: conn.execute(statement))
        self._cache(namespace, key)

    async def known(self, namespace: str, key: str) -> bool:
        """Whether any replica kept ``key``.

        Raises:
            StoreError: the read failed.
        """
        if (namespace, key) in self._seen:
            self._seen.move_to_end((namespace, key))
            return True
        query = select(shared_keys.c.key).where(
            shared_keys.c.namespace == namespace, shared_keys.c.key == key
        )
        found = await self.db.read(lambda conn: conn.execute(query).first() is not None)
        if found:
            self._cache(namespace, key)
        return found

    async def add_item(self, namespace: str, group: str, order: int, payload: str) -> None:
        """Keep one item of ``group`` (committed when this returns); a repeat is kept once.

        Raises:
            StoreError: the write failed (the request must not be acknowledged).
        """
        await self._items.submit(_Item(namespace, group, order, payload))

    async def group_items(self, namespace: str, group: str) -> GroupItems:
        """Every item of ``group``, in item order, and how long since the newest arrived."""
        query = (
            select(group_items.c.item, group_items.c.payload, group_items.c.created_at)
            .where(group_items.c.namespace == namespace, group_items.c.group_key == group)
            .order_by(group_items.c.item)
        )

        def work(conn: Connection) -> GroupItems:
            rows = conn.execute(query).all()
            if not rows:
                return GroupItems()
            newest = max(as_utc(row.created_at) for row in rows)  # type: ignore[type-var]
            quiet = (utcnow() - newest).total_seconds() if newest is not None else 0.0
            return GroupItems(
                tuple(row.payload for row in rows), max(0.0, quiet), tuple(row.item for row in rows)
            )

        return await self.db.read(work)

    async def open_groups(self, namespace: str) -> list[str]:
        """Groups with items still kept, oldest first."""
        query = (
            select(group_items.c.group_key)
            .where(group_items.c.namespace == namespace)
            .group_by(group_items.c.group_key)
            .order_by(func.min(group_items.c.created_at))
        )
        return await self.db.read(lambda conn: list(conn.execute(query).scalars()))

    async def drop_group(self, namespace: str, group: str) -> None:
        """Forget ``group``'s items.

        Raises:
            StoreError: the delete failed (the group is merged again later; the inbox dedupes).
        """
        statement = delete(group_items).where(
            group_items.c.namespace == namespace, group_items.c.group_key == group
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def drop_items(self, namespace: str, group: str, orders: tuple[int, ...]) -> None:
        """Forget only the items ``orders`` of ``group`` (those merged); items another
        process added after they were read stay for the next merge.

        Raises:
            StoreError: the delete failed (the items are merged again later; the merge dedupes).
        """
        if not orders:
            return
        statement = delete(group_items).where(
            group_items.c.namespace == namespace,
            group_items.c.group_key == group,
            group_items.c.item.in_(list(orders)),
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def replace_items(
        self, namespace: str, group: str, orders: tuple[int, ...], old: str, new: str
    ) -> tuple[int, ...]:
        """Give the items ``orders`` of ``group`` whose payload is still ``old`` the payload
        ``new`` (compare and set, e.g. renewing a claim); returns the orders replaced.

        Raises:
            StoreError: the update failed.
        """
        if not orders:
            return ()
        statement = (
            update(group_items)
            .where(
                group_items.c.namespace == namespace,
                group_items.c.group_key == group,
                group_items.c.item.in_(list(orders)),
                group_items.c.payload == old,
            )
            .values(payload=new)
            .returning(group_items.c.item)
        )
        replaced = await self.db.write(lambda conn: list(conn.execute(statement).scalars()))
        return tuple(sorted(int(order) for order in replaced))

    async def drop_older(self, namespace: str, age_s: float) -> int:
        """Forget the items of ``namespace`` older than ``age_s`` (e.g. what is kept only
        to recognise a redelivery); returns how many.

        Raises:
            StoreError: the delete failed.
        """
        statement = delete(group_items).where(
            group_items.c.namespace == namespace,
            group_items.c.created_at < utcnow() - timedelta(seconds=age_s),
        )
        return await self.db.write(lambda conn: conn.execute(statement).rowcount)


def _insert_items(dialect: str, conn: Connection, batch: Sequence[_Item]) -> list[None]:
    now = utcnow()
    conn.execute(insert_ignore(dialect, group_items), [
        {"namespace": i.namespace, "group_key": i.group, "item": i.order, "payload": i.payload,
         "created_at": now}
        for i in batch
    ])  # fmt: skip
    return [None] * len(batch)
