"""Interrupts: the registry a stop button aborts the running answer through."""

from __future__ import annotations

from core.answering.interrupts import Interrupts
from core.model.turn import ConversationKey

KEY = ConversationKey("telegram", "42")


async def test_a_stop_aborts_the_running_answer_once() -> None:
    interrupts = Interrupts()
    aborted: list[str] = []

    async def abort() -> None:
        aborted.append("req-1")

    assert await interrupts.stop(KEY) is False  # nothing running
    with interrupts.watch(KEY, abort) as watch:
        assert interrupts.running(KEY)
        assert await interrupts.stop(ConversationKey("telegram", "43")) is False  # another chat
        assert await interrupts.stop(KEY) is True
        assert await interrupts.stop(KEY) is True  # pressed twice: aborted once
        assert watch.stopped and aborted == ["req-1"]
    assert not interrupts.running(KEY)
    assert await interrupts.stop(KEY) is False  # finished: nothing left to stop


async def test_a_newer_answer_replaces_and_an_old_exit_keeps_it() -> None:
    interrupts = Interrupts()

    async def nothing() -> None:
        return None

    first = interrupts.watch(KEY, nothing)
    second = interrupts.watch(KEY, nothing)
    with first:
        with second:
            pass
        assert not interrupts.running(KEY)  # the newer one left; the older was replaced
    with first, second:
        first.__exit__(None, None, None)  # the older one leaving does not drop the newer
        assert interrupts.running(KEY)
