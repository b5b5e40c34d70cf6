"""Telegram adapter settings (section ``telegram`` of the YAML; secrets from the environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class TelegramSettings(BaseModel):
    """Telegram bot settings. The adapter starts only when ``bot_token`` is set.

    Attributes:
        bot_token: From ``KEFU_TELEGRAM__BOT_TOKEN`` only.
        mode: ``webhook`` in production, ``polling`` for development.
        webhook_secret: From ``KEFU_TELEGRAM__WEBHOOK_SECRET``; checked in constant time.
        webhook_url: Public URL Telegram posts to (``setWebhook``); path is ``webhook_path``.
        base_url: Bot API base URL (tests point it at the fake server).
        base_file_url: File download base URL.
        album_debounce_s: Quiet time after the last album item before the album becomes a turn.
        stream_edit_interval_s: Minimum seconds between two sends/edits in one chat.
        max_file_bytes: Largest photo downloaded (the Bot API serves up to 20 MB).
        poll_timeout_s: Long-poll timeout of ``getUpdates`` (polling mode).
        typing_interval_s: How often "typing…" is repeated while an answer is written.
        webhook_max_connections: Parallel webhook connections Telegram may open.
        max_sends_in_flight: Most reply parts sent by one process whose answer from Telegram
            is not yet recorded in the outbox: what one kill -9 can repeat (Telegram has no
            idempotency key). Lower repeats less, higher sends faster.
        album_journal_path: Webhook mode: SQLite file where album items are committed before
            their request is acknowledged, until the merged album turn is in the inbox
            (Telegram sends a chat's next update only after the previous one was answered, so
            an album item cannot wait for the whole album). None: each album item's request
            waits for the merged turn instead (albums are then split if Telegram delivers
            one chat's updates one by one, as it does). Used only where the process has no
            shared state: ``serve`` keeps album items in the store, shared by its replicas.
        drafts: Stream answers in private chats natively with ``sendMessageDraft`` (Bot API
            9.3+; a "Thinking…" placeholder, then the text, then one message). Off, or where
            Telegram refuses drafts: paced ``editMessageText`` (always so in groups).
        draft_interval_s: Least time between two draft updates of one answer.
        draft_keepalive_s: Send a draft again after this long without an update (Telegram
            drops a draft after about 30 s).
        stop_button: Show a stop button on drafts (Bot API 10.3); pressing it aborts the answer.
        business: Answer in the chats of business accounts whose owners connected the bot;
            the owner replying in a chat makes kefu go quiet there.
        max_update_bytes: Largest webhook request body read (an update is a few KB; photos
            come by file id, not in the body).
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
    poll_timeout_s: int = 30
    typing_interval_s: float = 4.0
    webhook_max_connections: int = 40
    max_sends_in_flight: int = Field(default=4, ge=1)
    album_journal_path: str | None = ".kefu/telegram-albums.db"
    drafts: bool = True
    draft_interval_s: float = Field(default=0.5, gt=0)
    draft_keepalive_s: float = Field(default=20.0, gt=0, lt=30)
    stop_button: bool = True
    business: bool = True
    max_update_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)

    @property
    def configured(self) -> bool:
        """Enabled and a bot token is set: ``serve`` runs the adapter."""
        return self.enabled and bool(self.bot_token and self.bot_token.get_secret_value())
