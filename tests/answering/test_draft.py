"""The model path's time budget and early stop (core/answering/draft.py)."""

from __future__ import annotations

import pytest

from core.answering.draft import DraftBudget, write_draft
from core.engines.base import ChatMessage, GenerationRequest
from core.engines.stub import StubEngine
from core.errors import EngineError

LONG = " ".join(f"word{i}" for i in range(200))


def _request(max_new_tokens: int = 256) -> GenerationRequest:
    return GenerationRequest((ChatMessage.text("user", "q"),), max_new_tokens=max_new_tokens)


class StopAtPrice:
    """Doomed once the draft states ¥999 (as a grounding check would find it)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def doomed(self, text_so_far: str) -> str | None:
        self.seen.append(text_so_far)
        return "price ¥999 is not in the facts" if "¥999" in text_so_far else None


async def test_a_finished_draft_is_returned_whole() -> None:
    engine = StubEngine(lambda r: "It costs ¥10 today.")
    draft = await write_draft(engine, _request(), DraftBudget())
    assert draft.text == "It costs ¥10 today." and draft.stopped is None
    assert len(draft.logprobs) == 4


async def test_the_guard_stops_decoding_at_the_first_doomed_claim() -> None:
    engine = StubEngine(lambda r: "It costs ¥999 and " + LONG)
    request = _request()
    guard = StopAtPrice()
    draft = await write_draft(engine, request, DraftBudget(), guard)
    assert draft.stopped == "price ¥999 is not in the facts"
    assert draft.text == "It costs ¥999"  # not 200 more words
    assert request.request_id in engine._aborted  # the batch slot is freed


async def test_the_deadline_abandons_a_slow_draft() -> None:
    engine = StubEngine(lambda r: LONG, token_delay_s=0.02)
    request = _request()
    draft = await write_draft(engine, request, DraftBudget(deadline_s=0.15))
    assert draft.stopped is not None and "0.15 s budget" in draft.stopped
    assert draft.seconds < 1.0 and 0 < len(draft.logprobs) < 50
    assert request.request_id in engine._aborted


async def test_unsure_tokens_stop_the_draft_after_enough_of_them() -> None:
    engine = StubEngine(lambda r: LONG, logprob=-3.0)  # p = 0.05 per token
    draft = await write_draft(engine, _request(), DraftBudget(min_tokens=12))
    assert draft.stopped is not None and "unsure" in draft.stopped
    assert len(draft.logprobs) == 12


async def test_sure_tokens_are_not_stopped() -> None:
    engine = StubEngine(lambda r: " ".join(["ok"] * 30), logprob=-0.1)
    draft = await write_draft(engine, _request(), DraftBudget(min_tokens=12))
    assert draft.stopped is None and len(draft.logprobs) == 30


async def test_engine_failures_still_raise() -> None:
    engine = StubEngine(fail_with=EngineError("down"))
    with pytest.raises(EngineError, match="down"):
        await write_draft(engine, _request(), DraftBudget())
