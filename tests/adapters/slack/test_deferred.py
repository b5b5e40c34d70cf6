"""Files slower than the ack budget: Slack is acknowledged in time, the turn is stored held
and reaches the workers with its image once the download is in (or with a note after the
timeout); later turns of the thread wait; a restarted process resumes held turns.

Real signed requests into the bolt app, the recording fake Slack serving the files, and the
real store (SQLite, and PostgreSQL where it runs) with the workers' own claim.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from core.model.decision import Completion, Decision, DecisionKind
from core.model.turn import ConversationKey, Reply, TextPart
from core.store.held import HeldTurns
from core.store.queue import Claim, InboxQueue
from core.store.store import Store
from tests.adapters.slack.conftest import png_bytes
from tests.conftest import make_turn
from tests.fakes.slack_server import event_callback, mention_event, message_event

ROOT = "1700000100.000100"
KEY = ConversationKey("slack", "D100", ROOT)


def _held(store: Store) -> HeldTurns:
    return HeldTurns(store.db, store.notify_new_turns)


async def _claim_within(queue: InboxQueue, seconds: float) -> list[Claim]:
    """What the workers can claim, polled until something or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        claims = await queue.claim(10)
        if claims or time.monotonic() > deadline:
            return claims
        await asyncio.sleep(0.05)


async def _answer(queue: InboxQueue, claim: Claim) -> None:
    decision = Decision(DecisionKind.ANSWER, 0.9, reasons=("test",))
    await queue.complete(claim, KEY, Completion(replies=(Reply(KEY, "ok"),), decision=decision))


async def _send_image(s: Any, text: str = "what is this", ts: str = ROOT) -> tuple[str, float]:
    file = s.fake.add_file(png_bytes((80, 60)), "receipt.png")
    event = message_event("D100", "U1", text, ts, files=[file])
    started = time.monotonic()
    status, _ = await s.sender.post_event(event_callback(event))
    assert status == 200
    return file["id"], time.monotonic() - started


async def test_slow_file_is_acked_in_time_and_the_turn_reaches_the_worker_with_it(
    serve: Any, store: Store
) -> None:
    s = await serve(inbox=store, held=_held(store), ack_budget_s=0.3)
    s.fake.file_delay_s = 1.0
    file_id, ack_s = await _send_image(s)
    assert ack_s < 0.9  # Slack got its answer within the budget, not after the download
    queue = InboxQueue(store, "worker")
    assert await queue.claim(10) == []  # held: the image is not in yet
    [claim] = await _claim_within(queue, 5)
    assert claim.turn.text == "what is this"  # no "not included" note
    [image] = claim.turn.images
    assert (image.width, image.height) == (80, 60)
    assert [r["file_id"] for r in s.fake.file_requests] == [file_id]  # continued, not restarted
    assert s.adapter.deferred.resolved == 1


async def test_a_later_message_in_the_thread_is_not_answered_before_the_held_one(
    serve: Any, store: Store
) -> None:
    s = await serve(inbox=store, held=_held(store), ack_budget_s=0.3)
    s.fake.file_delay_s = 1.0
    await _send_image(s)
    s.fake.file_delay_s = 0.0
    reply = message_event("D100", "U1", "any news?", "1700000101.000100", thread_ts=ROOT)
    assert (await s.sender.post_event(event_callback(reply)))[0] == 200
    queue = InboxQueue(store, "worker")
    assert await queue.claim(10) == []  # the text turn waits behind the held one
    [first] = await _claim_within(queue, 5)
    assert first.turn.images and first.turn.key == KEY
    assert await queue.claim(10) == []  # one turn of a conversation at a time
    await _answer(queue, first)
    [second] = await queue.claim(10)
    assert second.turn.text == "any news?" and second.turn.key == KEY


async def test_a_file_that_never_arrives_becomes_a_note_after_the_timeout(
    serve: Any, store: Store
) -> None:
    s = await serve(
        inbox=store, held=_held(store), ack_budget_s=0.3,
        deferred_file_timeout_s=1.5, deferred_file_attempt_s=0.4,
    )  # fmt: skip
    s.fake.file_delay_s = 2.0  # every attempt stalls past deferred_file_attempt_s
    file_id, _ = await _send_image(s)
    queue = InboxQueue(store, "worker")
    started = time.monotonic()
    assert await queue.claim(10) == []
    [claim] = await _claim_within(queue, 6)
    assert time.monotonic() - started > 0.8  # waited for the timeout, not the first failure
    assert claim.turn.images == ()
    [text, note] = claim.turn.parts
    assert text == TextPart("what is this")
    assert isinstance(note, TextPart) and file_id in note.text
    assert "did not finish within 1.5 s" in note.text
    assert len(s.fake.file_requests) >= 2  # stalled attempts were cut and tried again


async def test_server_errors_are_retried_until_the_file_comes(serve: Any, store: Store) -> None:
    s = await serve(inbox=store, held=_held(store), ack_budget_s=0.3, deferred_file_timeout_s=8)
    s.fake.file_delay_s = 0.6
    s.fake.file_status = 503
    await _send_image(s)
    queue = InboxQueue(store, "worker")
    await asyncio.sleep(1.0)  # the first download failed (503) after the ack; retries go on
    assert await queue.claim(10) == []
    s.fake.file_status = None
    [claim] = await _claim_within(queue, 8)
    assert len(claim.turn.images) == 1 and len(s.fake.file_requests) >= 2


async def test_a_late_html_page_is_a_refusal_noted_without_waiting_for_the_timeout(
    serve: Any, store: Store
) -> None:
    s = await serve(inbox=store, held=_held(store), ack_budget_s=0.3, deferred_file_timeout_s=30)
    s.fake.file_delay_s = 0.6
    s.fake.serve_login_page = True
    await _send_image(s)
    [claim] = await _claim_within(InboxQueue(store, "worker"), 5)
    assert "HTML" in claim.turn.text and claim.turn.images == ()
    assert len(s.fake.file_requests) == 1  # a refusal is not retried


async def test_a_restarted_process_resumes_the_held_turn(serve: Any, store: Store) -> None:
    settings = {"ack_budget_s": 0.3, "deferred_file_lease_s": 0.5}
    killed = await serve(inbox=store, held=_held(store), **settings)
    killed.fake.file_delay_s = 1.0
    file_id, _ = await _send_image(killed)
    await killed.adapter.stop()  # its download dies with it; its lease is not renewed
    queue = InboxQueue(store, "worker")
    await asyncio.sleep(1.2)  # past the dead process's lease
    assert await queue.claim(10) == []  # still held: nobody answers it without the image
    restarted = await serve(inbox=store, held=_held(store), **settings)
    [claim] = await _claim_within(queue, 6)
    assert claim.turn.text == "what is this" and len(claim.turn.images) == 1
    assert [r["file_id"] for r in restarted.fake.file_requests] == [file_id, file_id]
    assert restarted.adapter.deferred.resolved == 1


async def test_a_stored_url_off_the_allowlist_never_gets_the_token(
    serve: Any, store: Store
) -> None:
    held = _held(store)
    s = await serve(inbox=store, held=held, deferred_file_lease_s=0.3)
    elsewhere = s.fake.add_file(png_bytes(), "x.png")
    ref = {"part": 1, "file_id": elsewhere["id"], "name": "x.png", "mimetype": "image/png",
           "size": 10, "url": "https://evil.example/x.png", "mode": "hosted"}  # fmt: skip
    placeholder = TextPart("[file x.png not included: download did not finish]")
    turn = replace(make_turn("look", chat="D200", platform="slack"),
                   parts=(TextPart("look"), placeholder))  # fmt: skip
    await held.put_held(turn, [ref], "killed", lease_s=0.01, hold_s=60)
    [claim] = await _claim_within(InboxQueue(store, "worker"), 5)
    assert "refusing to send the bot token to host evil.example" in claim.turn.text
    assert s.fake.file_requests == []


async def test_message_and_mention_of_one_slow_message_make_one_held_turn(
    serve: Any, store: Store
) -> None:
    s = await serve(inbox=store, held=_held(store), ack_budget_s=0.3)
    s.fake.file_delay_s = 1.0
    file = s.fake.add_file(png_bytes((80, 60)), "receipt.png")
    text = "<@UKEFUBOT> what is this"
    ts = "1700000200.000100"
    events = [
        message_event("C300", "U1", text, ts, channel_type="channel", files=[file]),
        {**mention_event("C300", "U1", text, ts), "files": [file]},
    ]
    results = await asyncio.gather(*(s.sender.post_event(event_callback(e)) for e in events))
    assert [status for status, _ in results] == [200, 200]
    queue = InboxQueue(store, "worker")
    [claim] = await _claim_within(queue, 5)
    assert len(claim.turn.images) == 1
    assert s.adapter.inbound.ingested == 1 and s.adapter.inbound.duplicates == 1
    await asyncio.sleep(0.3)
    assert s.adapter.deferred.running == 0 and await queue.claim(10) == []
