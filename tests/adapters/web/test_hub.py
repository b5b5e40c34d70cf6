"""Live events: kept for reconnects, ids that only grow, streams that end on stop."""

from __future__ import annotations

import asyncio

from adapters.web.hub import EventHub, EventKind


async def test_kept_events_are_replayed_after_an_id_and_drafts_are_not_kept() -> None:
    hub = EventHub(keep=3)
    first = hub.publish("c1", EventKind.MESSAGE, {"text": "a"})
    hub.publish("c1", EventKind.DRAFT, {"text": "d"}, keep=False)
    second = hub.publish("c1", EventKind.MESSAGE, {"text": "b"})
    assert second.id > first.id
    assert [e.id for e in hub.kept("c1", after=first.id)] == [second.id]
    for n in range(5):
        hub.publish("c1", EventKind.MESSAGE, {"n": n})
    assert len(hub.kept("c1")) == 3  # bounded
    assert hub.kept("c2") == []


async def test_subscribers_get_live_events_and_close_ends_them() -> None:
    hub = EventHub()
    old = hub.publish("c1", EventKind.MESSAGE, {"text": "old"})
    with hub.subscribe("c1", after=0) as queue:
        assert (await queue.get()) == old
        live = hub.publish("c1", EventKind.STATE, {"state": "handoff"})
        hub.publish("c2", EventKind.MESSAGE, {"text": "not mine"})
        assert (await asyncio.wait_for(queue.get(), 1)) == live
        hub.close()
        assert (await asyncio.wait_for(queue.get(), 1)) is None
    assert b"event: state" in live.encode() and live.encode().endswith(b"\n\n")
