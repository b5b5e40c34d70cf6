"""Parsing one inbound body: JSON, schema, limits, inline images and the error shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from adapters.webhook.inbound import (
    ImageLoader,
    InvalidImageField,
    RequestRejected,
    decode_base64_image,
    kefu_error_response,
    parse_message,
)
from adapters.webhook.schema import Base64Image, UrlImage, WebhookMessage
from core.errors import ImageError, ImageTooLargeError, StoreError, UnsupportedImageFormatError
from core.media.images import ImageLimits
from core.texts import text
from tests.adapters.webhook.conftest import message, png_b64, png_bytes


def parse(body: Any, max_text_chars: int = 1000, max_images: int = 3) -> WebhookMessage:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_message(raw, max_text_chars, max_images)


def rejection(body: Any, **limits: int) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        parse(body, **limits)
    return caught.value


def test_valid_message_with_both_image_kinds() -> None:
    parsed = parse(
        message(images=[{"base64": "AAAA", "mime": "image/png"}, {"url": "https://x/y.png"}])
    )
    assert parsed.conversation_id == "conv-1"
    assert parsed.user.id == "u-1" and parsed.user.name == "Ann"
    assert isinstance(parsed.images[0], Base64Image)
    assert isinstance(parsed.images[1], UrlImage)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe{}", b"[1,"])
def test_malformed_json_is_400(raw: bytes) -> None:
    rejected = rejection(raw)
    assert rejected.status == 400
    assert rejected.detail.code == "malformed_json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": {"id": "u"}, "text": "x"}, "conversation_id"),
        ({"conversation_id": "c", "text": "x"}, "user"),
        ({"conversation_id": "", "user": {"id": "u"}, "text": "x"}, "conversation_id"),
        ({"conversation_id": "c", "user": {"id": 5}, "text": "x"}, "user.id"),
        ({"conversation_id": "c" * 256, "user": {"id": "u"}, "text": "x"}, "conversation_id"),
        (message(images=[{"bogus": 1}]), "images.0.Base64Image.base64"),
        (message(extra_field=True), "extra_field"),
        (message(text="\ud800 lone surrogate"), "text"),
        (message(text="nul\x00byte"), "text"),
        ([1, 2, 3], None),
    ],
)
def test_schema_violations_are_422_with_the_field(body: Any, field: str | None) -> None:
    rejected = rejection(body)
    assert rejected.status == 422
    assert rejected.detail.code == "validation_error"
    assert rejected.detail.field == field


@pytest.mark.parametrize(
    "body", [message(text=None), message(text="   "), message(text="", images=[])]
)
def test_a_message_needs_content(body: dict[str, Any]) -> None:
    rejected = rejection(body)
    assert rejected.status == 422
    assert "needs non-empty text" in rejected.detail.message


def test_an_action_alone_is_content() -> None:
    assert parse(message(text=None, action="human")).action == "human"


def test_limits() -> None:
    assert rejection(message(text="x" * 11), max_text_chars=10).detail.code == "text_too_long"
    images = [{"base64": "AAAA"}] * 4
    assert rejection(message(images=images), max_images=3).detail.code == "too_many_images"


def test_decode_base64_plain_and_data_url() -> None:
    data = png_bytes()
    encoded = base64.b64encode(data).decode()
    assert decode_base64_image(Base64Image(base64=encoded), 10_000) == data
    data_url = Base64Image(base64="data:image/png;base64," + encoded)
    assert decode_base64_image(data_url, 10_000) == data


def test_decode_base64_refusals() -> None:
    with pytest.raises(ImageError, match="not valid base64"):
        decode_base64_image(Base64Image(base64="@@@not base64@@@"), 10_000)
    with pytest.raises(ImageError, match="not an image type"):
        decode_base64_image(Base64Image(base64="AAAA", mime="application/pdf"), 10_000)
    with pytest.raises(ImageTooLargeError):
        decode_base64_image(Base64Image(base64="A" * 4000), 1000)


async def test_image_loader_normalises_and_names_the_failing_field() -> None:
    loader = ImageLoader(None, ImageLimits())
    parts = await loader.load(parse(message(images=[{"base64": png_b64((30, 20))}])))
    assert (parts[0].width, parts[0].height, parts[0].mime) == (30, 20, "image/png")
    bad = parse(message(text="看看这个", images=[{"base64": png_b64()}, {"base64": "AAAA"}]))
    with pytest.raises(InvalidImageField) as caught:
        await loader.load(bad)
    assert caught.value.field == "images.1"
    assert caught.value.language == "zh"
    assert isinstance(caught.value.error, UnsupportedImageFormatError)


async def test_image_urls_refused_without_a_fetcher() -> None:
    loader = ImageLoader(None, ImageLimits())
    with pytest.raises(InvalidImageField, match="send base64"):
        await loader.load(parse(message(images=[{"url": "https://example.com/a.png"}])))


def test_image_errors_map_to_422_with_the_user_facing_text() -> None:
    response = kefu_error_response(ImageTooLargeError("30 MB"), "zh", "images.0")
    assert response.status == 422
    assert response.text is not None
    error = json.loads(response.text)["error"]
    assert error == {
        "code": "image_too_large",
        "message": text("image_too_large", "zh"),
        "field": "images.0",
        "detail": "30 MB",
    }


def test_store_errors_map_to_503_with_retry_after() -> None:
    response = kefu_error_response(StoreError("disk full"))
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert response.text is not None
    assert json.loads(response.text)["error"]["code"] == "store_error"
