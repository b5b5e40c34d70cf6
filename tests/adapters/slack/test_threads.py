"""The threads the bot is part of: bounded in memory, shared by every replica in the store."""

from __future__ import annotations

from typing import Any

from adapters.slack.threads import KnownThreads
from core.store.store import Store
from tests.fakes.slack_server import event_callback, mention_event, message_event

BOT = "UKEFUBOT"


def test_known_threads_forget_the_least_recently_used() -> None:
    threads = KnownThreads(capacity=2)
    threads.add("C1", "1.0")
    threads.add("C1", "2.0")
    assert ("C1", "1.0") in threads  # touch: 2.0 is now the oldest
    threads.add("C2", "3.0")
    assert ("C1", "2.0") not in threads
    assert ("C1", "1.0") in threads and ("C2", "3.0") in threads
    assert len(threads) == 2 and ("C9", "1.0") not in threads


async def test_without_shared_state_a_thread_is_known_to_this_process_only() -> None:
    threads = KnownThreads()
    await threads.join("C1", "1.0")
    assert await threads.knows("C1", "1.0")
    assert not await KnownThreads().knows("C1", "1.0")  # a restart forgets it


async def test_a_thread_joined_by_one_replica_is_known_to_another_and_after_a_restart(
    store_url: str,
) -> None:
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        here, there = KnownThreads(shared=first.shared), KnownThreads(shared=second.shared)
        assert not await there.knows("C1", "1.0")
        await here.join("C1", "1.0")
        assert await there.knows("C1", "1.0")
        assert ("C1", "1.0") in there  # now cached in that process too
        restarted = KnownThreads(capacity=1, shared=second.shared)
        assert await restarted.knows("C1", "1.0")
        assert not await restarted.knows("C1", "2.0")
    finally:
        await first.close()
        await second.close()


async def test_a_reply_without_mention_in_a_thread_joined_on_another_replica_is_answered(
    serve: Any, store_url: str
) -> None:
    """A mention reaches replica A; the customer's next message in that thread (no mention)
    reaches replica B, which never saw the thread: it is answered all the same."""
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        a = await serve(shared=first.shared)
        b = await serve(shared=second.shared)
        root = "1700000100.000100"
        mention = mention_event("C500", "U5", f"<@{BOT}> is it in stock?", root)
        assert (await a.sender.post_event(event_callback(mention)))[0] == 200
        reply = message_event("C500", "U5", "the blue one", "1700000101.000100",
                              channel_type="channel", thread_ts=root)  # fmt: skip
        assert (await b.sender.post_event(event_callback(reply)))[0] == 200
        assert [t.text for t in b.inbox.turns] == ["the blue one"]
        unknown = message_event("C500", "U5", "chatter", "1700000102.000100",
                                channel_type="channel", thread_ts="1700000099.000100")  # fmt: skip
        assert (await b.sender.post_event(event_callback(unknown)))[0] == 200
        assert [t.text for t in b.inbox.turns] == ["the blue one"]  # not a thread it is in
    finally:
        await first.close()
        await second.close()
