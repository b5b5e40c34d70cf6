"""JSON answers: extraction from model output and schema validation."""

from __future__ import annotations

import pytest

from core.api.structured import JsonFormat, NotConforming, extract_json
from core.errors import InvalidInputError

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"n": 1}', {"n": 1}),
        ('Here you go:\n```json\n{"n": 2}\n```\nanything else?', {"n": 2}),
        ('The answer is {"n": 3} as asked.', {"n": 3}),
        ("[1, 2]", [1, 2]),
        ('{broken {"n": 4}', {"n": 4}),
    ],
)
def test_json_is_found(text: str, value: object) -> None:
    assert extract_json(text) == value


def test_no_json_and_wrong_json() -> None:
    with pytest.raises(NotConforming, match="no valid JSON"):
        extract_json("plain words")
    with pytest.raises(NotConforming, match="JSON object"):
        JsonFormat().parse("[1, 2]")
    with pytest.raises(NotConforming, match="does not match the schema"):
        JsonFormat.checked(SCHEMA, "n").parse('{"n": "one"}')
    assert JsonFormat.checked(SCHEMA, "n").parse('```json\n{"n": 5}\n```') == '{"n": 5}'


def test_bad_schemas_are_refused_up_front() -> None:
    with pytest.raises(InvalidInputError, match="not a valid JSON Schema"):
        JsonFormat.checked({"type": 12}, "x")
    with pytest.raises(InvalidInputError, match="too large"):
        JsonFormat.checked({"description": "x" * 30_000}, "x")
    assert "Schema" in JsonFormat.checked(SCHEMA, "n").instructions()
    assert "JSON object" in JsonFormat().instructions()
