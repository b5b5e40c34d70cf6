"""Function calling: the offered functions checked, calls parsed and validated."""

from __future__ import annotations

import json

import pytest

from core.api.protocol import Message, NamedToolChoice, Tool
from core.api.structured import NotConforming
from core.api.tools import ChoiceMode, tool_message_text, toolset
from core.errors import InvalidInputError

LOOKUP = Tool.model_validate({"type": "function", "function": {
    "name": "lookup", "parameters": {"type": "object", "properties": {"sku": {"type": "string"}},
                                     "required": ["sku"]}}})  # fmt: skip
NOTE = Tool.model_validate({"type": "function", "function": {"name": "note"}})


def call(name: str, arguments: object) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_calls_are_parsed_and_checked() -> None:
    tools = toolset([LOOKUP, NOTE], None, None)
    assert tools.mode is ChoiceMode.AUTO and tools.active
    text, calls = tools.parse("Let me check. " + call("lookup", {"sku": "A1"}) + call("note", {}))
    assert text == "Let me check." and [c.name for c in calls] == ["lookup", "note"]
    assert json.loads(calls[0].arguments) == {"sku": "A1"}
    unterminated = '<tool_call>{"name": "lookup", "arguments": "{\\"sku\\": \\"B2\\"}"}'
    (only,) = tools.parse(unterminated)[1]  # small models forget the closing tag
    assert json.loads(only.arguments) == {"sku": "B2"}
    assert tools.parse("no call needed") == ("no call needed", ())
    for bad, why in (
        (call("missing", {}), "no function"), (call("lookup", {"sku": 1}), "arguments of lookup"),
        ("<tool_call>{not json}</tool_call>", "not JSON"), (call("lookup", [1]), "JSON object"),
    ):  # fmt: skip
        with pytest.raises(NotConforming, match=why):
            tools.parse(bad)


def test_choices_and_limits() -> None:
    named = toolset([LOOKUP, NOTE], NamedToolChoice.model_validate(
        {"type": "function", "function": {"name": "lookup"}}), False)  # fmt: skip
    assert named.mode is ChoiceMode.NAMED and "'lookup'" in named.instructions()
    with pytest.raises(NotConforming, match="must be called"):
        named.parse(call("note", {}))
    with pytest.raises(NotConforming, match="required"):
        named.parse("just text")
    with pytest.raises(NotConforming, match="at most one"):
        named.parse(call("lookup", {"sku": "a"}) * 2)
    assert not toolset([LOOKUP], "none", None).active
    assert not toolset(None, None, None).active
    for tools, choice, why in (
        ([Tool(type="code_interpreter")], None, "only 'function'"),
        ([LOOKUP, LOOKUP], None, "invalid or repeated"),
        ([LOOKUP], "sometimes", "not supported"),
        (None, "auto", "needs tools"),
    ):
        with pytest.raises(InvalidInputError, match=why):
            toolset(tools, choice, None)  # type: ignore[arg-type]


def test_earlier_calls_and_results_as_the_model_reads_them() -> None:
    assistant = Message.model_validate({"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"sku":"A"}'}}
    ]})  # fmt: skip
    text = tool_message_text(assistant)
    assert text is not None and text.startswith("Checking.\n<tool_call>")
    assert '"arguments": {"sku": "A"}' in text
    result = Message.model_validate({"role": "tool", "tool_call_id": "c1", "content": "in stock"})
    assert tool_message_text(result) == "<tool_response>\nin stock\n</tool_response>"
    assert tool_message_text(Message.model_validate({"role": "user", "content": "hi"})) is None
