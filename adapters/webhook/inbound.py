"""Reading one inbound webhook request: body cap, JSON, schema, images, error responses.

Every failure is a typed :class:`core.errors.KefuError` (or :class:`RequestRejected` for the
HTTP-only cases) that :func:`error_response` turns into the one documented error shape:
``{"error": {"code", "message", "field", "detail"}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from aiohttp import web
from pydantic import ValidationError

from adapters.webhook.schema import (
    Base64Image,
    ErrorDetail,
    ErrorResponse,
    UrlImage,
    WebhookMessage,
)
from adapters.webhook.signing import VerifiedHeaders
from core.errors import FetchError, ImageError, ImageTooLargeError, KefuError
from core.media.fetch import SafeFetcher
from core.media.images import ImageDecoder, ImageLimits
from core.model.turn import ImagePart
from core.texts import Language, detect_language, public_message, text

_READ_CHUNK = 256 * 1024
_DATA_URL_MARK = ";base64,"


class RequestRejected(Exception):
    """An HTTP-level refusal that is not a domain error (unknown source, body too large).

    Attributes:
        status: HTTP status to answer.
        detail: The error body's ``error`` object.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(code=code, message=message, field=field)


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A signed, schema-valid request whose images are already normalised.

    This is the adapter's raw platform message: :meth:`WebhookAdapter.to_turn` maps it to a
    turn without I/O.
    """

    source: str
    headers: VerifiedHeaders
    message: WebhookMessage
    images: tuple[ImagePart, ...]


def error_response(
    status: int, detail: ErrorDetail, headers: dict[str, str] | None = None
) -> web.Response:
    """The one error shape, as an aiohttp response."""
    body = ErrorResponse(error=detail).model_dump_json()
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def kefu_error_response(
    exc: KefuError, language: Language = "en", field: str | None = None
) -> web.Response:
    """Map a kefu error to its HTTP status; user-facing text where the error has one."""
    if isinstance(exc, ImageError | FetchError):
        # A bad photo is a 422 whatever its kind; the message is the customer's text.
        detail = ErrorDetail(
            code=exc.code,
            message=text(exc.user_message_key, language),
            field=field,
            detail=str(exc) if exc.discloses else None,  # a refused fetch names addresses
        )
        return error_response(422, detail)
    headers = {"Retry-After": "5"} if exc.http_status == 503 else None
    message = public_message(exc, language)
    return error_response(
        exc.http_status, ErrorDetail(code=exc.code, message=message, field=field), headers
    )


async def read_capped_body(request: web.Request, max_bytes: int) -> bytes:
    """Read the body, refusing more than ``max_bytes`` (declared or actually sent).

    Raises:
        RequestRejected: 413 when the body is over the cap.
    """
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)
    if declared is not None:
        return await request.read()  # aiohttp stops at the declared length
    body = bytearray()
    while chunk := await request.content.read(_READ_CHUNK):
        body.extend(chunk)
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def _too_large(max_bytes: int) -> RequestRejected:
    return RequestRejected(413, "body_too_large", f"request body is larger than {max_bytes} bytes")


def require_json(request: web.Request) -> None:
    """The body must be declared JSON (``application/json`` or ``…+json``).

    Raises:
        RequestRejected: 415 for any other declared type, or none.
    """
    mime = request.content_type.lower()  # aiohttp: "application/octet-stream" when absent
    if mime != "application/json" and not mime.endswith("+json"):
        raise RequestRejected(
            415, "unsupported_media_type", f"Content-Type must be application/json, not {mime}"
        )


def parse_message(body: bytes, max_text_chars: int, max_images: int) -> WebhookMessage:
    """Parse and validate the JSON body.

    Raises:
        RequestRejected: 400 for malformed JSON (nesting too deep included), 422 for a
            schema violation.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, "malformed_json", f"body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise RequestRejected(400, "malformed_json", "body is nested too deeply") from None
    try:
        message = WebhookMessage.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise RequestRejected(422, "validation_error", first["msg"], field) from exc
    if message.text is not None and len(message.text) > max_text_chars:
        raise RequestRejected(
            422, "text_too_long", f"text is longer than {max_text_chars} characters", "text"
        )
    if len(message.images) > max_images:
        raise RequestRejected(422, "too_many_images", f"at most {max_images} images", "images")
    return message


def message_language(message: WebhookMessage) -> Language:
    return detect_language(message.text or "")


def decode_base64_image(image: Base64Image, max_bytes: int) -> bytes:
    """Decode an inline image (plain base64 or a ``data:image/…;base64,`` URL).

    Raises:
        ImageTooLargeError: the encoded size already exceeds ``max_bytes``.
        ImageError: not valid base64, or a declared mime that is not an image.
    """
    if image.mime is not None and not image.mime.lower().startswith("image/"):
        raise ImageError(f"mime {image.mime!r} is not an image type")
    encoded = image.base64
    if encoded.startswith("data:") and _DATA_URL_MARK in encoded:
        encoded = encoded.split(_DATA_URL_MARK, 1)[1]
    if len(encoded) * 3 // 4 > max_bytes + 3:
        raise ImageTooLargeError(f"image is larger than {max_bytes} bytes")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"image is not valid base64: {exc}") from exc


class ImageLoader:
    """Turns the body's images into normalised :class:`ImagePart` objects.

    Args:
        fetcher: The SSRF-guarded fetcher for ``{"url": …}`` images, or None to refuse them.
        limits: Normalisation limits (bytes, pixels, target size).
        decoder: The process's image decoder (threads, concurrency and memory limits).
    """

    def __init__(
        self, fetcher: SafeFetcher | None, limits: ImageLimits, decoder: ImageDecoder | None = None
    ) -> None:
        self._fetcher = fetcher
        self._limits = limits
        self._decoder = decoder or ImageDecoder()

    async def load(self, message: WebhookMessage) -> tuple[ImagePart, ...]:
        """Decode or fetch, then normalise (off the event loop), every image in order.

        Raises:
            InvalidImageField: wraps the ImageError/FetchError with the offending field.
        """
        parts: list[ImagePart] = []
        for index, image in enumerate(message.images):
            try:
                data = await self._bytes_of(image)
                parts.append(await self._decoder.normalise(data, self._limits))
            except (ImageError, FetchError) as exc:
                raise InvalidImageField(exc, f"images.{index}", message_language(message)) from exc
        return tuple(parts)

    async def _bytes_of(self, image: Base64Image | UrlImage) -> bytes:
        if isinstance(image, Base64Image):
            return decode_base64_image(image, self._limits.max_bytes)
        if self._fetcher is None:
            raise FetchError(
                "image URLs are not accepted by this endpoint; send base64", discloses=True
            )
        return (await self._fetcher.fetch(image.url)).data


class InvalidImageField(Exception):
    """An image error, the body field it came from, and the customer's language."""

    def __init__(self, error: ImageError | FetchError, field: str, language: Language) -> None:
        super().__init__(str(error))
        self.error = error
        self.field = field
        self.language = language
