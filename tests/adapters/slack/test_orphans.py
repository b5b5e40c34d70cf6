"""Previews left by a killed answer are deleted when the answer is made again, on any replica."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack.orphans import NAMESPACE
from core.model.turn import ConversationKey, Reply
from core.ports import OutboundMessage, StreamRequest
from core.store.store import Store

KEY = ConversationKey("slack", "C100", "1700000050.000100")
ANSWERED = "C100:1700000060.000100"  # the customer's message being answered


async def _preview(adapter: Any, text: str) -> str:
    stream = await adapter.open_reply_stream(StreamRequest(KEY, ANSWERED))
    assert stream is not None
    await stream.update(text)
    for _ in range(100):
        if stream.ref is not None:
            break
        await asyncio.sleep(0.02)
    assert stream.ref is not None
    return str(stream.ref)


async def test_a_preview_left_by_a_killed_replica_is_deleted_by_the_next_attempt(
    serve: Any, store_url: str
) -> None:
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        a = await serve(shared=first.shared, native_streaming=False)
        b = await serve(shared=second.shared, native_streaming=False)
        orphan = await _preview(a.adapter, "Your order ships")  # then replica A is killed
        assert len(a.fake.thread("C100", KEY.thread_id)) == 1
        ref = await _preview(b.adapter, "Your order ships today.")  # the answer, made again
        [left] = b.fake.thread("C100", KEY.thread_id)  # the orphan is gone, one preview left
        assert f"C100:{left.ts}" == ref != orphan
        reply = Reply(KEY, "Your order ships today.", reply_to=ANSWERED)
        await b.adapter.deliver(OutboundMessage(1, reply, stream_ref=ref))
        [final] = b.fake.thread("C100", KEY.thread_id)
        assert final.text == "Your order ships today."
        assert (await second.shared.group_items(NAMESPACE, ANSWERED)).payloads == ()
    finally:
        await first.close()
        await second.close()


async def test_without_shared_state_previews_are_not_recorded(serve: Any) -> None:
    s = await serve(native_streaming=False)
    await _preview(s.adapter, "draft one")
    await _preview(s.adapter, "draft two")
    assert len(s.fake.thread("C100", KEY.thread_id)) == 2  # one process: nothing to find
