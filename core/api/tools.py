"""Function calling (``tools`` / ``tool_choice``): the prompt format and the parser.

kefu's models are told about the functions in the Hermes / Qwen format (Qwen2.5 and later
are trained on it; docs/openai-api.md shows it): the functions' JSON Schemas inside
``<tools>…</tools>`` in the system message, and a call is a JSON object
``{"name": …, "arguments": {…}}`` inside ``<tool_call>…</tool_call>``. Earlier calls and
their results in the conversation are written the same way (results inside
``<tool_response>…</tool_response>``). A call naming an unknown function or with arguments
that do not match its parameters' schema does not count; the answer is retried.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jsonschema_rs

from core.api.protocol import Message, NamedToolChoice, Tool, ToolCallOut
from core.api.structured import NotConforming
from core.errors import InvalidInputError

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128


class ChoiceMode(StrEnum):
    NONE = "none"  # never call
    AUTO = "auto"  # call when it helps
    REQUIRED = "required"  # call at least one function
    NAMED = "named"  # call this one function


@dataclass(frozen=True, slots=True)
class Toolset:
    """The functions a request offers and how the model must use them.

    Attributes:
        functions: Each function's definition as given (for the prompt), by name.
        parameters: Each function's parameters schema, by name (None: any object).
        mode: The ``tool_choice``.
        named: The function ``tool_choice`` names (mode NAMED).
        parallel: More than one call per answer is allowed.
    """

    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameters: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    mode: ChoiceMode = ChoiceMode.AUTO
    named: str = ""
    parallel: bool = True

    @property
    def active(self) -> bool:
        return bool(self.functions) and self.mode is not ChoiceMode.NONE

    def instructions(self) -> str:
        """The system text that offers the functions."""
        listed = "\n".join(
            json.dumps({"type": "function", "function": f}, ensure_ascii=False)
            for f in self.functions.values()
        )
        rule = {
            ChoiceMode.AUTO: "Call a function only when it is needed; otherwise answer in text.",
            ChoiceMode.REQUIRED: "You must call at least one of the functions.",
            ChoiceMode.NAMED: f"You must call the function {self.named!r}.",
        }.get(self.mode, "")
        many = "" if self.parallel else " Call at most one function."
        return (
            "You can call these functions. Their definitions, as JSON Schemas:\n"
            f"<tools>\n{listed}\n</tools>\n"
            "To call a function, write a JSON object with its name and arguments inside "
            "<tool_call></tool_call> tags, one block per call, for example:\n"
            '<tool_call>\n{"name": "function_name", "arguments": {"arg": "value"}}\n</tool_call>\n'
            f"{rule}{many}"
        )

    def parse(self, text: str) -> tuple[str | None, tuple[ToolCallOut, ...]]:
        """The answer's text outside calls and its calls.

        Raises:
            NotConforming: a malformed call, an unknown function, arguments that do not match,
                too many calls, or no call when one is required.
        """
        calls = tuple(self._call(body) for body in _CALL.findall(text))
        rest = _CALL.sub("", text).strip() or None
        if not calls and self.mode in (ChoiceMode.REQUIRED, ChoiceMode.NAMED):
            raise NotConforming("a function call is required")
        if len(calls) > 1 and not self.parallel:
            raise NotConforming("at most one function call is allowed")
        return rest, calls

    def _call(self, body: str) -> ToolCallOut:
        try:
            call = json.loads(body)
        except json.JSONDecodeError as exc:
            raise NotConforming(f"a tool call is not JSON: {exc.msg}") from None
        name = call.get("name") if isinstance(call, dict) else None
        if not isinstance(name, str) or name not in self.functions:
            raise NotConforming(f"no function is named {name!r}")
        if self.mode is ChoiceMode.NAMED and name != self.named:
            raise NotConforming(f"the function {self.named!r} must be called, not {name!r}")
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                raise NotConforming(f"the arguments of {name} are not JSON") from None
        if not isinstance(arguments, dict):
            raise NotConforming(f"the arguments of {name} must be a JSON object")
        schema = self.parameters.get(name)
        if schema is not None:
            errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(arguments)]
            if errors:
                raise NotConforming(f"arguments of {name}: " + "; ".join(errors[:3]))
        return ToolCallOut(f"call_{uuid.uuid4().hex[:24]}", name, json.dumps(arguments))


def toolset(
    tools: list[Tool] | None, choice: str | NamedToolChoice | None, parallel: bool | None
) -> Toolset:
    """The request's functions, checked.

    Raises:
        InvalidInputError: a tool that is not a function, a bad name or schema, a
            ``tool_choice`` kefu does not know or naming no offered function.
    """
    functions: dict[str, dict[str, Any]] = {}
    parameters: dict[str, dict[str, Any] | None] = {}
    for index, tool in enumerate(tools or ()):
        if tool.type != "function" or tool.function is None:
            raise InvalidInputError(
                f"tools.{index}.type {tool.type!r} is not supported: only 'function' tools are"
            )
        name = tool.function.name
        if not _NAME.match(name) or name in functions:
            raise InvalidInputError(f"tools.{index}.function.name {name!r} is invalid or repeated")
        parameters[name] = _checked_schema(tool.function.parameters, index)
        functions[name] = tool.function.model_dump(exclude_none=True)
    if len(functions) > MAX_TOOLS:
        raise InvalidInputError(f"at most {MAX_TOOLS} tools are supported")
    mode, named = _choice(choice, functions)
    return Toolset(functions, parameters, mode, named, parallel is not False)


def _checked_schema(schema: dict[str, Any] | None, index: int) -> dict[str, Any] | None:
    if schema is None:
        return None
    try:
        jsonschema_rs.validator_for(schema)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInputError(
            f"tools.{index}.function.parameters is not a valid JSON Schema: {first}"
        ) from None
    return schema


def _choice(
    choice: str | NamedToolChoice | None, functions: dict[str, Any]
) -> tuple[ChoiceMode, str]:
    if choice is None:
        return (ChoiceMode.AUTO if functions else ChoiceMode.NONE), ""
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise InvalidInputError(f"tool_choice {choice!r} is not supported")
        if choice != "none" and not functions:
            raise InvalidInputError(f"tool_choice {choice!r} needs tools")
        return ChoiceMode(choice), ""
    if choice.type != "function" or choice.function is None:
        raise InvalidInputError(f"tool_choice type {choice.type!r} is not supported")
    if choice.function.name not in functions:
        raise InvalidInputError(
            f"tool_choice names {choice.function.name!r}, which is not in tools"
        )
    return ChoiceMode.NAMED, choice.function.name


def tool_message_text(message: Message) -> str | None:
    """An assistant's earlier calls or a tool's result as the text the model reads; None for
    other messages."""
    if message.role == "tool":
        content = message.content if isinstance(message.content, str) else ""
        if isinstance(message.content, list):
            content = "\n".join(p.text or "" for p in message.content if p.type == "text")
        return f"<tool_response>\n{content}\n</tool_response>"
    if message.role == "assistant" and message.tool_calls:
        calls = [
            "<tool_call>\n"
            + json.dumps({"name": c.function.name, "arguments": _arguments(c.function.arguments)},
                         ensure_ascii=False)
            + "\n</tool_call>"
            for c in message.tool_calls
        ]  # fmt: skip
        before = message.content if isinstance(message.content, str) and message.content else ""
        return "\n".join(([before] if before else []) + calls)
    return None


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
