"""Telegram adapter settings (section ``telegram`` of the YAML; secrets from the environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, SecretStr


class TelegramSettings(BaseModel):
    """Telegram bot settings. The adapter starts only when ``bot_token`` is set.

    Attributes:
        bot_token: From ``KEFU_TELEGRAM__BOT_TOKEN`` only.
        mode: ``webhook`` in production, ``polling`` for development.
        webhook_secret: From ``KEFU_TELEGRAM__WEBHOOK_SECRET``; checked in constant time.
        webhook_url: Public URL Telegram posts to (``setWebhook``); path is ``webhook_path``.
        base_url: Bot API base URL (tests point it at the fake server).
        base_file_url: File download base URL.
    """

    enabled: bool = True
    bot_token: SecretStr | None = None
    mode: Literal["webhook", "polling"] = "polling"
    webhook_secret: SecretStr | None = None
    webhook_url: str | None = None
    webhook_path: str = "/telegram/webhook"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    album_debounce_s: float = 1.5
    stream_edit_interval_s: float = 1.0
    max_file_bytes: int = 20 * 1024 * 1024
