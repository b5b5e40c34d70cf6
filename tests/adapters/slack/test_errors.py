"""Mapping slack-sdk errors onto kefu's error hierarchy."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from adapters.slack.errors import retry_after_seconds, translate, translate_startup
from core.errors import AuthenticationError, PermanentDeliveryError, PlatformError, RateLimitedError


def api_error(status: int, error: str, headers: dict[str, str] | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://x/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("failed", response)


def test_429_becomes_rate_limited_with_retry_after() -> None:
    error = translate(api_error(429, "ratelimited", {"retry-after": "7"}), "chat.postMessage")
    assert isinstance(error, RateLimitedError) and error.retry_after == 7.0


def test_missing_or_garbled_retry_after_defaults_to_one_second() -> None:
    assert retry_after_seconds(api_error(429, "ratelimited")) == 1.0
    assert retry_after_seconds(api_error(429, "ratelimited", {"Retry-After": "soon"})) == 1.0


def test_permanent_and_transient_errors() -> None:
    assert type(translate(api_error(200, "channel_not_found"), "m")) is PermanentDeliveryError
    assert type(translate(api_error(200, "internal_error"), "m")) is PlatformError
    assert type(translate(api_error(500, ""), "m")) is PlatformError


def test_startup_auth_errors_are_authentication_errors() -> None:
    assert isinstance(
        translate_startup(api_error(200, "invalid_auth"), "auth.test"), AuthenticationError
    )
    assert isinstance(
        translate_startup(api_error(429, "ratelimited"), "auth.test"), RateLimitedError
    )
