"""MediaFetcher against the fake Bot API: size limits, bad files, and no token leaks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from adapters.telegram.inbound import MediaRef
from adapters.telegram.media import REDACTED, MediaFetcher, TokenRedactingFilter
from core.errors import FetchError, ImageError, ImageTooLargeError
from tests.adapters.telegram.conftest import jpeg_bytes
from tests.fakes.telegram_server import FakeTelegramServer


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as client:
        yield client


async def test_downloads_and_normalises_with_the_caption(tg: FakeTelegramServer, bot: Bot) -> None:
    tg.add_file("ph", jpeg_bytes((120, 80)))
    outcome = await MediaFetcher(bot, 1_000_000).fetch(MediaRef("ph", 2_000, "caption!"))
    assert outcome.error is None and outcome.image is not None
    assert (outcome.image.width, outcome.image.height) == (120, 80)
    assert outcome.image.caption == "caption!"
    assert tg.downloads == ["photos/ph.jpg"]


async def test_announced_size_over_the_limit_is_refused_before_any_call(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.add_file("big", jpeg_bytes())
    outcome = await MediaFetcher(bot, 10_000).fetch(MediaRef("big", 10_001))
    assert isinstance(outcome.error, ImageTooLargeError)
    assert tg.calls_of("getFile") == [] and tg.downloads == []


async def test_size_from_get_file_is_checked_before_downloading(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.add_file("big", jpeg_bytes(), announced_size=50_000_000)
    outcome = await MediaFetcher(bot, 20 * 1024 * 1024).fetch(MediaRef("big", None))
    assert isinstance(outcome.error, ImageTooLargeError)
    assert len(tg.calls_of("getFile")) == 1 and tg.downloads == []


async def test_downloaded_bytes_over_the_limit_are_refused(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.add_file("liar", b"x" * 5_000, announced_size=10)
    outcome = await MediaFetcher(bot, 1_000).fetch(MediaRef("liar", 10))
    assert isinstance(outcome.error, ImageTooLargeError)


async def test_corrupt_bytes_are_an_image_error(tg: FakeTelegramServer, bot: Bot) -> None:
    tg.add_file("junk", b"\xff\xd8\xff\xe0 this is not really a jpeg")
    outcome = await MediaFetcher(bot, 1_000_000).fetch(MediaRef("junk", 40))
    assert isinstance(outcome.error, ImageError) and outcome.image is None


async def test_unknown_file_is_a_fetch_error_without_the_token(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    outcome = await MediaFetcher(bot, 1_000_000).fetch(MediaRef("missing", 40))
    assert isinstance(outcome.error, FetchError)
    assert tg.token not in str(outcome.error)
    assert outcome.error.__cause__ is None


async def test_the_token_never_reaches_log_records(
    tg: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    tg.add_file("ph", jpeg_bytes())
    redactor = TokenRedactingFilter(tg.token)
    redactor.install()
    try:
        with caplog.at_level(logging.DEBUG):
            async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as bot:
                outcome = await MediaFetcher(bot, 1_000_000).fetch(MediaRef("ph", 100))
    finally:
        redactor.uninstall()
    assert outcome.image is not None
    messages = [record.getMessage() for record in caplog.records]
    assert any("/file/bot" in m or "getFile" in m for m in messages)  # URLs were logged...
    assert [m for m in messages if tg.token in m] == []  # ...but never with the token
    assert any(REDACTED in m for m in messages)


def test_redacting_filter_rewrites_formatted_arguments() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "GET %s", ("https://t/bot123:abc/x",), None
    )
    assert TokenRedactingFilter("123:abc").filter(record)
    assert record.getMessage() == f"GET https://t/bot{REDACTED}/x"


def test_redact_catches_percent_encoded_tokens() -> None:
    from adapters.telegram.media import redact

    text = "GET /file/bot123%3Aabc/x and /file/bot123%3aabc/y and 123:abc"
    assert (
        redact(text, "123:abc")
        == f"GET /file/bot{REDACTED}/x and /file/bot{REDACTED}/y and {REDACTED}"
    )
