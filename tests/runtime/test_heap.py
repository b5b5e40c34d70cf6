"""settle_heap: startup objects are frozen out of the cycle collector's way."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core.runtime.heap import settle_heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_settle_heap_freezes_startup_objects_and_makes_full_collections_rarer() -> None:
    gc.set_threshold(700, 10, 10)
    startup_object = {"routes": ["/webhooks/{source}"]}
    frozen = settle_heap(full_collection_every=1234)
    assert frozen == gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 1234)  # young generations keep short pauses
    assert startup_object  # still alive and usable


@pytest.mark.usefixtures("restore_gc")
def test_garbage_made_after_settling_is_still_collected() -> None:
    settle_heap()

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle only the collector can free
    del first, second
    assert gc.collect() >= 2
