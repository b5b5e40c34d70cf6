"""JSON answers (``response_format``): what the model is told and how its answer is checked.

kefu's engines have no grammar-constrained decoding, so ``json_object`` and ``json_schema``
are honoured by validate-and-retry: the model is told to reply with one JSON value (and the
schema), its answer is parsed (code fences and chatter around the JSON are tolerated) and
validated with the JSON Schema, and a failure is shown to the model for another attempt.
An answer that never conforms is an error, never a 200 with invalid JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from core.errors import InvalidInputError

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
MAX_SCHEMA_CHARS = 20_000


class NotConforming(ValueError):
    """The model's answer does not satisfy the requested format; the message says why."""


@dataclass(frozen=True, slots=True)
class JsonFormat:
    """A requested JSON answer.

    Attributes:
        schema: The JSON Schema the answer must match; None for any JSON object.
        name: The schema's name (for the prompt).
    """

    schema: dict[str, Any] | None = None
    name: str = "response"

    @classmethod
    def checked(cls, schema: dict[str, Any] | None, name: str) -> JsonFormat:
        """A format whose schema is valid.

        Raises:
            InvalidInputError: the schema is not a valid JSON Schema, or too large.
        """
        if schema is not None:
            if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
                raise InvalidInputError("response_format.json_schema.schema is too large")
            try:
                jsonschema_rs.validator_for(schema)
            except (jsonschema_rs.ValidationError, ValueError) as exc:
                first = str(exc).splitlines()[0]
                raise InvalidInputError(
                    f"response_format.json_schema.schema is not a valid JSON Schema: {first}"
                ) from None
        return cls(schema, name)

    def instructions(self) -> str:
        if self.schema is None:
            return "Reply with one JSON object only: no prose before or after it, no code fences."
        return (
            f"Reply with one JSON value only (no prose, no code fences) that matches the JSON "
            f"Schema named {self.name!r}:\n{json.dumps(self.schema, ensure_ascii=False)}"
        )

    def parse(self, text: str) -> str:
        """The answer's JSON, re-serialised compactly.

        Raises:
            NotConforming: no JSON in it, not an object (``json_object``), or schema errors.
        """
        value = extract_json(text)
        if self.schema is None and not isinstance(value, dict):
            raise NotConforming("the answer must be a JSON object")
        if self.schema is not None:
            errors = [
                e.message for e in jsonschema_rs.validator_for(self.schema).iter_errors(value)
            ]
            if errors:
                raise NotConforming("it does not match the schema: " + "; ".join(errors[:3]))
        return json.dumps(value, ensure_ascii=False)


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text`` (inside a code fence or not).

    Raises:
        NotConforming: there is none.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start, char in enumerate(candidate):
            if char not in "{[":
                continue
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            return value
    raise NotConforming("the answer holds no valid JSON")
