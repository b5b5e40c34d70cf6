"""Map slack-sdk and transport failures onto :mod:`core.errors`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError

from core.errors import (
    AuthenticationError,
    KefuError,
    PermanentDeliveryError,
    PlatformError,
    RateLimitedError,
)

# Web API errors that will fail again however often the message is retried.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "cannot_reply_to_message",
        "thread_reply_not_allowed",
        "too_many_attachments",
        "duplicate_channel_not_found",
        "account_inactive",
        "user_not_found",
    }
)
# chat.update errors after which the draft cannot be edited; the text is posted anew.
UNEDITABLE_ERRORS = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "msg_too_long"}
)
# Slack ended a native stream (it does after a while without appends): the message stays,
# and only chat.update can still change it.
STREAM_CLOSED = "message_not_in_streaming_state"
# Errors meaning the token itself is wrong: a configuration problem, not a delivery one.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
DEFAULT_RETRY_AFTER_S = 1.0


def error_code(exc: SlackApiError) -> str:
    """The Web API ``error`` string of a failed call (``""`` when the body had none)."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, Mapping):
        value = data.get("error")
        return value if isinstance(value, str) else ""
    return ""


def _header(headers: Any, name: str) -> str | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return value[0] if isinstance(value, list) and value else str(value)
    return None


def code_of(error: BaseException) -> str:
    """The Web API error code behind a kefu error raised by ``api_call`` (``""`` if none)."""
    cause = error.__cause__
    return error_code(cause) if isinstance(cause, SlackApiError) else ""


def retry_after_seconds(exc: SlackApiError) -> float:
    """Seconds Slack asked to wait (``Retry-After``), or a default of 1 s."""
    raw = _header(getattr(exc.response, "headers", None), "Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


def is_rate_limited(exc: SlackApiError) -> bool:
    return getattr(exc.response, "status_code", None) == 429 or error_code(exc) == "ratelimited"


def translate(exc: SlackApiError, method: str) -> PlatformError:
    """The kefu error for a failed Web API call.

    Returns:
        :class:`RateLimitedError` for 429 (with ``Retry-After``),
        :class:`PermanentDeliveryError` for errors a retry cannot fix, else
        :class:`PlatformError` (retried on the dispatcher's schedule).
    """
    code = error_code(exc) or "unknown_error"
    if is_rate_limited(exc):
        return RateLimitedError(
            f"Slack {method} rate limited", retry_after=retry_after_seconds(exc)
        )
    if code in PERMANENT_ERRORS:
        return PermanentDeliveryError(f"Slack {method} failed: {code}")
    return PlatformError(f"Slack {method} failed: {code}")


def translate_startup(exc: SlackApiError, method: str) -> KefuError:
    """Like :func:`translate`, but a rejected token is an :class:`AuthenticationError`."""
    code = error_code(exc)
    if code in AUTH_ERRORS:
        return AuthenticationError(f"Slack rejected the token in {method}: {code}")
    return translate(exc, method)
