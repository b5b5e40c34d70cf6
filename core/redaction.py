"""Secrets never reach a log line, at any level, from any library.

:func:`install_redaction` replaces the logging record factory: every record a logger
creates (only records at an enabled level are created) is formatted at once and scrubbed of
the process's secret values (tokens, webhook secrets, signing keys, API keys, also
percent-encoded) and of anything shaped like one (a Telegram bot token in a URL, a bearer
token, a ``secret_token`` parameter). Formatting at creation matters: python-telegram-bot
logs a dict it later fills with token-bearing URLs, so a handler formatting it afterwards
would leak them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

REDACTED = "<redacted>"
_SHAPES = (
    re.compile(r"(?<!\d)\d{5,}(?::|%3[Aa])[A-Za-z0-9_-]{30,}"),  # a bot token, also in URLs
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(secret_token['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"),
)
MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words


class SecretScrubber:
    """Removes known secret values and secret-shaped strings from text.

    Args:
        secrets: The process's secret values (empty ones and very short ones are ignored).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_CHARS:
                encoded = quote(secret, safe="")
                forms.update({secret, encoded, encoded.lower(), encoded.upper()})
        self._forms = sorted(forms, key=len, reverse=True)  # longest first: no partial leaks

    def scrub(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        for shape in _SHAPES:
            text = shape.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
        return text


def install_redaction(secrets: Iterable[str]) -> Callable[[], None]:
    """Scrub every log record created from now on; returns a function that uninstalls it."""
    scrubber = SecretScrubber(secrets)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep the template alone
            message = str(record.msg)
        record.msg = scrubber.scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrubber.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)

    def uninstall() -> None:
        logging.setLogRecordFactory(previous)

    return uninstall
