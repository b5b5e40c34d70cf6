"""``tools`` and ``response_format`` through the official ``openai`` client: a supported,
checked result or an OpenAI-shaped error, never a silently ignored parameter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest
from aiohttp import web

from core.api.access import AccessOptions
from core.api.protocol import ChatCompletionRequest
from core.api.routes import ServiceOptions
from core.api.serving import build_service_app
from core.api.shaping import OutputContract, contract_of, with_instructions
from core.engines.base import ChatMessage, GenerationRequest
from core.engines.stub import StubEngine
from core.errors import InvalidInputError

ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_order",
        "description": "Look up an order by its number",
        "parameters": {
            "type": "object",
            "properties": {"order_no": {"type": "string"}},
            "required": ["order_no"],
            "additionalProperties": False,
        },
    },
}
SCHEMA = {
    "type": "object",
    "properties": {"product": {"type": "string"}, "price": {"type": "number"}},
    "required": ["product", "price"],
    "additionalProperties": False,
}
CALL = (
    '<tool_call>\n{"name": "get_order", "arguments": {"order_no": "SO20261102-0042"}}\n</tool_call>'
)


class ScriptedEngine(StubEngine):
    """Answers with the next scripted text each time (the last one repeats)."""

    def __init__(self, *answers: str) -> None:
        self.script = list(answers)
        super().__init__(self._next)

    def _next(self, _request: GenerationRequest) -> str:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []
    clients: list[openai.AsyncOpenAI] = []

    async def start(engine: StubEngine) -> openai.AsyncOpenAI:
        runner = web.AppRunner(
            build_service_app(engine, ServiceOptions(AccessOptions(open_inference=True)))
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        clients.append(openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0))
        return clients[-1]

    yield start
    for client in clients:
        await client.close()
    for runner in runners:
        await runner.cleanup()


def ask(text: str = "Where is my order SO20261102-0042?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_a_tool_call_is_parsed_from_the_model_output(serve: Any) -> None:
    engine = ScriptedEngine(CALL)
    client = await serve(engine)
    result = await client.chat.completions.create(
        model="kefu", messages=ask(), tools=[ORDER_TOOL], tool_choice="auto"
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_order"
    assert json.loads(call.function.arguments) == {"order_no": "SO20261102-0042"}
    assert call.id.startswith("call_")
    system = engine.requests[0].messages[0]
    assert system.role == "system" and "<tools>" in system.content_text
    assert "get_order" in system.content_text


async def test_a_bad_call_is_retried_with_the_problem_shown(serve: Any) -> None:
    bad = '<tool_call>{"name": "get_order", "arguments": {"order": 42}}</tool_call>'
    engine = ScriptedEngine(bad, CALL)
    client = await serve(engine)
    result = await client.chat.completions.create(
        model="kefu", messages=ask(), tools=[ORDER_TOOL], tool_choice="required"
    )
    assert result.choices[0].message.tool_calls
    assert len(engine.requests) == 2
    feedback = engine.requests[1].messages[-1].content_text
    assert "order_no" in feedback  # the schema error was shown to the model
    assert result.usage is not None and result.usage.completion_tokens > 0


async def test_required_call_never_made_is_an_error_not_a_200(serve: Any) -> None:
    engine = ScriptedEngine("I think your order is on its way.")
    client = await serve(engine)
    with pytest.raises(openai.InternalServerError) as error:
        await client.chat.completions.create(
            model="kefu", messages=ask(), tools=[ORDER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_order"}},
        )  # fmt: skip
    assert error.value.body["code"] == "output_not_conforming"  # type: ignore[index]
    assert len(engine.requests) == 3


async def test_auto_without_a_call_is_a_text_answer(serve: Any) -> None:
    client = await serve(ScriptedEngine("Hello! How can I help?"))
    result = await client.chat.completions.create(
        model="kefu", messages=ask("hi"), tools=[ORDER_TOOL]
    )
    assert result.choices[0].message.content == "Hello! How can I help?"
    assert result.choices[0].finish_reason == "stop" and not result.choices[0].message.tool_calls


async def test_tool_results_reach_the_model_in_the_tool_format(serve: Any) -> None:
    engine = ScriptedEngine("Your order shipped on 2026-11-03.")
    client = await serve(engine)
    messages = [
        *ask(),
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_order", "arguments": '{"order_no": "SO20261102-0042"}'},
        }]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    ]  # fmt: skip
    result = await client.chat.completions.create(
        model="kefu", messages=messages, tools=[ORDER_TOOL]
    )
    assert result.choices[0].message.content == "Your order shipped on 2026-11-03."
    prompt = engine.requests[0].messages
    assert prompt[-2].role == "assistant" and "<tool_call>" in prompt[-2].content_text
    assert prompt[-1].role == "user"
    assert prompt[-1].content_text == '<tool_response>\n{"status": "shipped"}\n</tool_response>'


async def test_json_schema_answer_is_valid_json_matching_the_schema(serve: Any) -> None:
    engine = ScriptedEngine('Sure:\n```json\n{"product": "Oxford shirt", "price": 199}\n```')
    client = await serve(engine)
    result = await client.chat.completions.create(
        model="kefu", messages=ask("price of the Oxford shirt as JSON"),
        response_format={"type": "json_schema",
                         "json_schema": {"name": "price", "schema": SCHEMA, "strict": True}},
    )  # fmt: skip
    assert json.loads(result.choices[0].message.content or "") == {
        "product": "Oxford shirt", "price": 199,
    }  # fmt: skip
    assert "JSON Schema" in engine.requests[0].messages[0].content_text


async def test_json_object_that_never_comes_is_an_error(serve: Any) -> None:
    client = await serve(ScriptedEngine("The shirt costs 199 yuan."))
    with pytest.raises(openai.InternalServerError, match="did not take the requested shape"):
        await client.chat.completions.create(
            model="kefu", messages=ask("as json"), response_format={"type": "json_object"}
        )


async def test_schema_mismatch_is_retried(serve: Any) -> None:
    engine = ScriptedEngine('{"product": "shirt"}', '{"product": "shirt", "price": 1.5}')
    client = await serve(engine)
    result = await client.chat.completions.create(
        model="kefu", messages=ask("json"),
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}},
    )  # fmt: skip
    assert json.loads(result.choices[0].message.content or "")["price"] == 1.5
    assert '"price" is a required property' in engine.requests[1].messages[-1].content_text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tools": [{"type": "web_search"}]}, "only 'function' tools"),
        ({"tools": [ORDER_TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}},
         "not in tools"),
        ({"tool_choice": "required"}, "needs tools"),
        ({"response_format": {"type": "xml"}}, "not supported"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "schema"),
        ({"response_format": {"type": "json_schema",
                              "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}},
         "not a valid JSON Schema"),
        ({"functions": [{"name": "f", "parameters": {}}]}, "use tools"),
    ],
)  # fmt: skip
async def test_unsupported_specs_are_an_openai_400(
    serve: Any, extra: dict[str, Any], message: str
) -> None:
    client = await serve(StubEngine())
    with pytest.raises(openai.BadRequestError, match=message) as error:
        await client.chat.completions.create(model="kefu", messages=ask(), **extra)
    assert error.value.body["type"] == "invalid_request_error"  # type: ignore[index]


async def test_streamed_tool_calls_and_confidence(serve: Any) -> None:
    client = await serve(ScriptedEngine(CALL))
    stream = await client.chat.completions.create(
        model="kefu", messages=ask(), tools=[ORDER_TOOL], stream=True
    )
    chunks = [chunk async for chunk in stream]
    calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or [])]
    assert [c.function.name for c in calls if c.function] == ["get_order"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert 0 <= chunks[-1].model_extra["confidence"]["score"] <= 1


async def test_streamed_plain_answers_carry_the_confidence_without_usage(serve: Any) -> None:
    client = await serve(StubEngine())
    stream = await client.chat.completions.create(model="kefu", messages=ask("hi"), stream=True)
    chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.usage is None
    assert 0 <= last.model_extra["confidence"]["score"] <= 1


async def test_streamed_json_is_checked_before_it_is_sent(serve: Any) -> None:
    client = await serve(ScriptedEngine("nope", '{"product": "a", "price": 2}'))
    stream = await client.chat.completions.create(
        model="kefu", messages=ask("json"), stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}},
    )  # fmt: skip
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert json.loads(text) == {"product": "a", "price": 2}


def test_contract_and_instructions() -> None:
    body = ChatCompletionRequest.model_validate(
        {"messages": ask(), "tools": [ORDER_TOOL], "response_format": {"type": "json_object"}}
    )
    contract = contract_of(body)
    assert isinstance(contract, OutputContract) and contract.shaped
    system = ChatMessage.text("system", "You are kefu.")
    merged = with_instructions((system, ChatMessage.text("user", "hi")), contract)
    assert (
        merged[0].content_text.startswith("You are kefu.") and "<tools>" in merged[0].content_text
    )
    assert "JSON object" in merged[0].content_text
    content, calls = contract.check(CALL)
    assert content is None and calls[0].name == "get_order"
    plain = contract_of(ChatCompletionRequest.model_validate({"messages": ask()}))
    assert not plain.shaped and with_instructions((system,), plain) == (system,)
    with pytest.raises(InvalidInputError):
        contract_of(ChatCompletionRequest.model_validate(
            {"messages": ask(), "function_call": "auto"}))  # fmt: skip
