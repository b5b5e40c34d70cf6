"""One error hierarchy for kefu.

Every error carries a machine-readable ``code`` and, where a person will see it, a
``user_message_key`` into :mod:`core.texts`. Adapters and the HTTP service map these
errors to their platform's error shape; nothing is logged and swallowed.
"""

from __future__ import annotations


class KefuError(Exception):
    """Base of every kefu error.

    Attributes:
        code: Stable machine-readable code, e.g. ``"image_too_large"``.
        user_message_key: Key into :data:`core.texts.TEXTS` for a user-facing message.
        http_status: Status an HTTP edge should answer with.
        discloses: Whether the message may be shown to whoever made the request. False for
            errors whose text can hold resolved addresses, an engine's URL or a database's
            own words: edges answer those with the user text (``core.texts.public_message``).
    """

    code: str = "internal_error"
    user_message_key: str = "internal_error"
    http_status: int = 500
    discloses: bool = True

    def __init__(
        self, message: str, *, code: str | None = None, discloses: bool | None = None
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if discloses is not None:  # this message names nothing internal (or does)
            self.discloses = discloses

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(KefuError):
    """Settings or a bot definition are invalid; kefu refuses to start."""

    code = "config_error"


class CatalogImportError(ConfigError):
    """A product CSV export cannot be imported (unreadable, a column missing, a bad row)."""

    code = "catalog_import_error"


class DeskUnavailableError(ConfigError):
    """The staff desk handoffs are configured for lives on a platform that is not running."""

    code = "desk_unavailable"


class InvalidInputError(KefuError):
    """Input from a user or a platform is malformed."""

    code = "invalid_input"
    user_message_key = "invalid_input"
    http_status = 400


class ImageError(InvalidInputError):
    """A photo could not be accepted (corrupt, unsupported, too large, a decompression bomb)."""

    code = "invalid_image"
    user_message_key = "image_invalid"


class ImageTooLargeError(ImageError):
    code = "image_too_large"
    user_message_key = "image_too_large"
    http_status = 413


class UnsupportedImageFormatError(ImageError):
    code = "unsupported_image_format"
    user_message_key = "image_unsupported"
    http_status = 415


class UnsupportedContentError(InvalidInputError):
    """A message kind kefu does not handle (voice, video, stickers, arbitrary files)."""

    code = "unsupported_content"
    user_message_key = "unsupported_content"
    http_status = 415


class AuthenticationError(KefuError):
    """A signature, secret token or API key did not verify."""

    code = "authentication_failed"
    http_status = 401


class NotFoundError(KefuError):
    code = "not_found"
    user_message_key = "not_found"
    http_status = 404


class StoreError(KefuError):
    """The durable store failed; the caller must not acknowledge the platform."""

    code = "store_error"
    http_status = 503
    discloses = False


class StoreConflictError(StoreError):
    """A write broke a uniqueness rule (a concurrent duplicate); the caller decides."""

    code = "store_conflict"
    http_status = 409


class LeaseLostError(KefuError):
    """This process's lease on a queued item ran out and the item may be another process's
    now (its fencing token moved on): the holder stops without sending or recording."""

    code = "lease_lost"
    http_status = 409


class EngineError(KefuError):
    """Inference failed."""

    code = "engine_error"
    user_message_key = "engine_unavailable"
    http_status = 503
    discloses = False


class EngineOverloadedError(EngineError):
    code = "engine_overloaded"
    http_status = 429


class ModelLoadError(EngineError):
    code = "model_load_failed"


class OutputFormatError(EngineError):
    """The model's answers did not take the shape the request asked for (a JSON Schema, a
    function call), not even after being told what was wrong."""

    code = "output_not_conforming"
    http_status = 500
    discloses = True


class RequestAbortedError(EngineError):
    code = "request_aborted"
    http_status = 499


class PlatformError(KefuError):
    """A chat platform answered with an error while kefu delivered or fetched something."""

    code = "platform_error"
    http_status = 502
    discloses = False


class RateLimitedError(PlatformError):
    """The platform asked kefu to slow down (HTTP 429 / Telegram ``RetryAfter``).

    Attributes:
        retry_after: Seconds to wait before trying again.
    """

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(PlatformError):
    """Delivery can never succeed (chat gone, bot blocked, endpoint 410); dead-letter it."""

    code = "permanent_delivery_failure"


class FetchError(PlatformError):
    """Downloading a file or URL failed, or was refused by a guard (size, SSRF, content type)."""

    code = "fetch_failed"
    user_message_key = "image_fetch_failed"
    http_status = 422


class TransientFetchError(FetchError):
    """A download failed in a way a later try may fix (connection lost, HTTP 5xx or 429);
    a refusal (too large, wrong host, an HTML page) is a plain :class:`FetchError`."""
