"""The webhook API's wire shapes (pydantic, at the HTTP edge only).

These models validate inbound bodies, serialise responses and callbacks, and are the
source of the OpenAPI document (:mod:`adapters.webhook.openapi`), so the spec cannot
drift from what the code accepts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def _storable(value: str) -> str:
    """Refuse strings a database cannot store: lone surrogates and NUL characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text contains an unpaired surrogate") from exc
    if "\x00" in value:
        raise ValueError("text contains a NUL character")
    return value


Str = Annotated[str, AfterValidator(_storable)]
Id = Annotated[Str, Field(min_length=1, max_length=255)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookUser(_Strict):
    """The author on the sending platform; ``id`` is the platform's verified user id."""

    id: Id
    name: Annotated[Str, Field(max_length=255)] | None = None


class Base64Image(_Strict):
    """An image sent inline: standard base64 of the encoded file (JPEG, PNG, WebP, BMP, GIF)."""

    base64: Annotated[str, Field(min_length=1)]
    mime: Annotated[Str, Field(max_length=100)] | None = None


class UrlImage(_Strict):
    """An image kefu downloads (http/https only, public addresses only, image/* only)."""

    url: Annotated[str, Field(min_length=1, max_length=2048)]


class WebhookMessage(_Strict):
    """One customer message. At least ``text`` or one image is required.

    ``message_id`` is the sender platform's own id for the message; it is echoed back in the
    response. The idempotency key is the ``webhook-id`` header, not this field.
    ``action`` carries a pressed button's action (or a command such as ``reset``).
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["text"],
                    "properties": {"text": {"type": "string", "pattern": "\\S"}},
                },
                {"required": ["images"], "properties": {"images": {"minItems": 1}}},
                {"required": ["action"], "properties": {"action": {"type": "string"}}},
            ]
        },
    )

    conversation_id: Id
    user: WebhookUser
    message_id: Annotated[Str, Field(max_length=255)] | None = None
    text: Str | None = None
    images: list[Base64Image | UrlImage] = []
    reply_to: Annotated[Str, Field(max_length=255)] | None = None
    action: Annotated[Str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _has_content(self) -> WebhookMessage:
        if not (self.text and self.text.strip()) and not self.images and not self.action:
            raise ValueError("a message needs non-empty text, an image or an action")
        return self


class AcceptedResponse(_Strict):
    """202: the message is stored durably; replies follow by callback, wait or stream."""

    turn_id: int
    status: Literal["accepted"] = "accepted"
    duplicate: bool
    message_id: str | None = None


class ConfidenceOut(_Strict):
    score: float
    reasons: list[str] = []


class ButtonOut(_Strict):
    label: str
    action: str


class ImageOut(_Strict):
    mime: str
    width: int
    height: int
    base64: str


class ReplyContent(_Strict):
    """One reply's content, as the webhook platform renders it."""

    text: str
    kind: Literal["answer", "notice", "handoff", "relay", "error"]
    reply_to: str | None = None
    confidence: ConfidenceOut | None = None
    buttons: list[ButtonOut] = []
    images: list[ImageOut] = []


class ReplyEvent(ReplyContent):
    """A reply as delivered: by callback POST, in a ``wait`` response, or as an SSE event.

    ``seq`` numbers the replies to one turn from 1; ``final`` marks the last one.
    Callbacks carry ``webhook-id: msg_<outbox_id>``, stable across retries, for dedupe.
    """

    source: str
    conversation_id: str
    turn_id: int | None
    seq: int
    final: bool


class AnsweredResponse(_Strict):
    """200 for ``?wait=true``: every reply to the turn, the final one last."""

    turn_id: int
    status: Literal["answered"] = "answered"
    duplicate: bool
    message_id: str | None = None
    replies: list[ReplyEvent]


class PartialEvent(_Strict):
    """SSE ``partial``: the answer so far, while the model writes it."""

    turn_id: int
    text: str


class DoneEvent(_Strict):
    """SSE ``done`` (all replies sent) or ``timeout`` (the wait ran out; replies follow by callback)."""

    turn_id: int
    replies: int


class ErrorDetail(_Strict):
    """``code`` is stable and machine-readable; ``message`` is meant for the end user
    where one exists (e.g. a bad photo); ``field`` is the offending body field, dotted."""

    code: str
    message: str
    field: str | None = None
    detail: str | None = None


class ErrorResponse(_Strict):
    """Every error, whatever the status: ``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail
