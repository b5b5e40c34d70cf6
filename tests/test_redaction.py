"""Secrets are scrubbed from every log record, at every level, from any logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from core.redaction import REDACTED, SecretScrubber, install_redaction

BOT_TOKEN = "123456789:AAHk-very-secret-bot-token-value-xyz"
WEBHOOK_SECRET = "tg-webhook-secret-0123"


@pytest.fixture
def redacted() -> Iterator[None]:
    uninstall = install_redaction([BOT_TOKEN, WEBHOOK_SECRET, "", "abc"])
    yield
    uninstall()


def test_known_secrets_and_secret_shapes_are_scrubbed() -> None:
    scrub = SecretScrubber(["s3cr3t-value"]).scrub
    assert scrub("key=s3cr3t-value") == f"key={REDACTED}"
    assert scrub(
        "https://api.telegram.org/bot987654:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef123/getMe"
    ) == (f"https://api.telegram.org/bot{REDACTED}/getMe")
    assert scrub("Authorization: Bearer sk-live-abcdef1234") == f"Authorization: Bearer {REDACTED}"
    assert REDACTED in scrub("{'secret_token': 'whatever-it-is', 'url': 'x'}")
    assert scrub("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == REDACTED
    assert scrub("an ordinary abc line") == "an ordinary abc line"  # short values are ignored


def test_debug_records_of_libraries_are_scrubbed(
    redacted: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    params = {"url": "https://kefu.example/telegram/webhook", "secret_token": WEBHOOK_SECRET}
    logging.getLogger("telegram.ext.ExtBot").debug("Calling Bot API endpoint `%s` with %s",
                                                   "setWebhook", params)  # fmt: skip
    params["file"] = f"https://api.telegram.org/file/bot{BOT_TOKEN}/photos/1.jpg"  # mutated later
    logging.getLogger("httpx").info("HTTP Request: GET %s", params["file"].replace(":", "%3A"))
    try:
        raise RuntimeError(f"failed with token {BOT_TOKEN}")
    except RuntimeError:
        logging.getLogger("kefu").exception("boom")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert WEBHOOK_SECRET not in text and BOT_TOKEN not in text
    assert BOT_TOKEN.replace(":", "%3A") not in text
    assert "setWebhook" in text and "RuntimeError" in text
