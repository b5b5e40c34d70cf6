"""SharedState: keys and group items that every replica sees, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from core.store.store import Store


async def test_a_key_kept_by_one_replica_is_known_to_another(store_url: str) -> None:
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        assert not await second.shared.known("slack.thread", "C1:1.0")
        await first.shared.remember("slack.thread", "C1:1.0")
        await first.shared.remember("slack.thread", "C1:1.0")  # idempotent
        assert await second.shared.known("slack.thread", "C1:1.0")
        assert not await second.shared.known("other", "C1:1.0")  # namespaces are apart
    finally:
        await first.close()
        await second.close()


async def test_group_items_from_two_replicas_merge_in_order_and_drop_together(
    store_url: str,
) -> None:
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        await asyncio.gather(
            first.shared.add_item("album", "42:7", 12, "c"),
            second.shared.add_item("album", "42:7", 10, "a"),
            first.shared.add_item("album", "42:7", 11, "b"),
            second.shared.add_item("album", "42:7", 12, "c"),  # a redelivery: kept once
            first.shared.add_item("album", "9:1", 1, "x"),
        )
        items = await second.shared.group_items("album", "42:7")
        assert items.payloads == ("a", "b", "c")
        assert 0 <= items.quiet_s < 5
        await asyncio.sleep(0.2)
        assert (await first.shared.group_items("album", "42:7")).quiet_s >= 0.15
        assert sorted(await first.shared.open_groups("album")) == ["42:7", "9:1"]
        await first.shared.drop_group("album", "42:7")
        assert (await second.shared.group_items("album", "42:7")).payloads == ()
        assert await second.shared.open_groups("album") == ["9:1"]
    finally:
        await first.close()
        await second.close()


async def test_dropping_items_keeps_those_another_replica_added_after_the_read(
    store_url: str,
) -> None:
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        await first.shared.add_item("album", "42:8", 1, "a")
        await second.shared.add_item("album", "42:8", 2, "b")
        read = await first.shared.group_items("album", "42:8")
        assert read.orders == (1, 2) and read.payloads == ("a", "b")
        await second.shared.add_item("album", "42:8", 3, "c")  # after the read
        await first.shared.drop_items("album", "42:8", read.orders)
        left = await second.shared.group_items("album", "42:8")
        assert left.orders == (3,) and left.payloads == ("c",)
        await first.shared.drop_items("album", "42:8", ())  # nothing to drop: no error
        assert await first.shared.open_groups("album") == ["42:8"]
    finally:
        await first.close()
        await second.close()


async def test_items_kept_only_for_a_while_are_dropped_when_old(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        await store.shared.add_item("album.merged", "42:9", 1, "")
        await store.shared.add_item("album", "42:9", 2, "kept")
        assert await store.shared.drop_older("album.merged", 3600) == 0  # still young
        await asyncio.sleep(0.05)
        assert await store.shared.drop_older("album.merged", 0.01) == 1
        assert (await store.shared.group_items("album.merged", "42:9")).orders == ()
        assert (await store.shared.group_items("album", "42:9")).orders == (2,)  # other namespace
    finally:
        await store.close()


async def test_an_item_is_replaced_only_while_it_still_holds_the_expected_payload(
    store_url: str,
) -> None:
    """Renewing a claim: a replica rewrites its own claims, never one another replica holds
    now (compare and set)."""
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        await first.shared.add_item("claims", "42:7", 1, "10.0 mine")
        await first.shared.add_item("claims", "42:7", 2, "10.0 mine")
        await first.shared.add_item("claims", "42:7", 3, "12.0 theirs")
        renewed = await first.shared.replace_items("claims", "42:7", (1, 2, 3), "10.0 mine",
                                                   "20.0 mine")  # fmt: skip
        assert renewed == (1, 2)
        assert (await second.shared.group_items("claims", "42:7")).payloads == (
            "20.0 mine", "20.0 mine", "12.0 theirs")  # fmt: skip
        assert await second.shared.replace_items("claims", "42:7", (1,), "10.0 mine", "x") == ()
        assert await first.shared.replace_items("claims", "42:7", (), "a", "b") == ()
    finally:
        await first.close()
        await second.close()
