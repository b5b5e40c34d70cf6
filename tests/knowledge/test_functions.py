"""The shop's tools offered as OpenAI functions, end to end against a fake OpenAI server that
answers with ``tool_calls`` (core/knowledge/functions.py, core/answering/draft.py, the
OpenAI engine's wire format)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from core.answering.bot import TurnContext
from core.answering.confidence import score_logprobs
from core.answering.draft import DraftBudget, write_draft
from core.engines.base import GenerationRequest, ToolCall
from core.engines.openai_engine import OpenAIEngine
from core.engines.options import EngineKind, EngineOptions
from core.knowledge.base import KnowledgeHolder
from core.knowledge.botconfig import load_bot_config
from core.knowledge.brain import KnowledgeBrain
from tests.fakes.openai_server import CallTools, SayText, fake_tool_server
from tests.knowledge.fakes import ScriptedOcr, turn

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def holder() -> KnowledgeHolder:
    return KnowledgeHolder(ROOT / "bots/shop/knowledge")


@pytest.fixture
def brain(holder: KnowledgeHolder) -> KnowledgeBrain:
    config = load_bot_config(ROOT / "bots/shop/bot.yaml").model_copy(
        update={"function_calling": True}
    )
    return KnowledgeBrain(config, holder, ocr=ScriptedOcr(), clock=lambda: TODAY)


def _engine(url: str) -> OpenAIEngine:
    options = EngineOptions(kind=EngineKind.OPENAI, base_url=url, remote_model="qwen-vl")
    return OpenAIEngine(options, retry_wait_s=0.01)


async def _draft(brain: KnowledgeBrain, text: str, script: list[CallTools | SayText]):  # type: ignore[no-untyped-def]
    t = turn(text)
    prepared = await brain.prepare(t, TurnContext())
    assert prepared.functions is not None and prepared.direct_reply is None
    async with fake_tool_server(script) as server:
        engine = _engine(server.url)
        await engine.start()
        try:
            draft = await write_draft(
                engine,
                GenerationRequest(prepared.messages),
                DraftBudget(deadline_s=10),
                prepared.guard,
                None,
                prepared.functions,
            )
        finally:
            await engine.stop()
    return t, prepared, draft, server.requests


async def test_the_model_calls_a_function_and_answers_from_its_result(
    brain: KnowledgeBrain,
) -> None:
    script = [
        CallTools((("product_info", {"question": "windbreaker jacket price"}),)),
        SayText("The Windbreaker Jacket is ¥239.20 today."),
    ]
    t, prepared, draft, requests = await _draft(brain, "How much is the windbreaker?", script)
    assert draft.stopped is None and draft.text == "The Windbreaker Jacket is ¥239.20 today."
    offered = {tool["function"]["name"] for tool in requests[0]["tools"]}
    assert offered == {"lookup_order", "product_info", "search_knowledge", "list_promotions"}
    assert requests[0]["tool_choice"] == "auto"
    # The second request carries the call and the function's result.
    assistant, result = requests[1]["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "product_info"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "question": "windbreaker jacket price"
    }
    assert result["role"] == "tool" and result["tool_call_id"] == "call_0"
    assert "¥239.20" in result["content"] and draft.facts[0].text == result["content"]
    # The answer is grounded in what the function returned, so it passes.
    checked = prepared.__class__(
        prepared.messages, (*prepared.facts, *draft.facts), guard=prepared.guard
    )
    assessment = brain.assess(t, checked, draft.text, score_logprobs(draft.logprobs))
    assert assessment.handoff is None


async def test_orders_stay_bound_to_the_asker(brain: KnowledgeBrain) -> None:
    script = [
        CallTools((("lookup_order", {"order_number": "SO20261116-0451"}),)),  # Anna's order
        SayText("A colleague will help."),
    ]
    _, _, draft, requests = await _draft(brain, "where is SO20261116-0451", script)
    result = requests[1]["messages"][-1]["content"]
    assert "No order SO20261116-0451" in result and "SF1416650021987" not in result
    assert draft.facts[0].source == "order:not-found"


async def test_bad_arguments_and_unknown_functions_are_reported_to_the_model(
    brain: KnowledgeBrain,
) -> None:
    functions = (await brain.prepare(turn("hi there, a question"), TurnContext())).functions
    assert functions is not None
    bad = await functions.call(ToolCall("c1", "product_info", "{not json"))
    unknown = await functions.call(ToolCall("c2", "refund_everything", "{}"))
    assert bad.source == "function:error" and "not JSON" in bad.text
    assert unknown.source == "function:error" and "refund_everything" in unknown.text


async def test_an_invented_fact_after_a_call_stops_the_draft(brain: KnowledgeBrain) -> None:
    script = [
        CallTools((("product_info", {"question": "windbreaker jacket price"}),)),
        SayText("It is ¥99.00 today and " + "more words " * 50),
    ]
    _, _, draft, _ = await _draft(brain, "How much is the windbreaker?", script)
    assert draft.stopped is not None and "¥99.00" in draft.stopped
