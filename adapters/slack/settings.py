"""Slack adapter settings (section ``slack`` of the YAML; secrets from the environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class SlackSettings(BaseModel):
    """Slack app settings. The adapter starts only when ``bot_token`` is set.

    Attributes:
        bot_token: ``xoxb-…`` from ``KEFU_SLACK__BOT_TOKEN``.
        signing_secret: From ``KEFU_SLACK__SIGNING_SECRET`` (HTTP mode).
        app_token: ``xapp-…`` from ``KEFU_SLACK__APP_TOKEN`` (Socket Mode).
        mode: ``http`` (Events API) or ``socket``.
        events_path: Route on the shared aiohttp app for Events API and interactivity posts.
        base_url: Web API base URL (tests point it at the fake server).
        staff_channel: Channel id where handoff threads are opened.
        stream_update_interval_s: Least time between two ``chat.update`` calls of a live preview.
        max_file_bytes: Largest attached file kefu downloads.
        ack_budget_s: Time an inbound event may spend downloading and normalising its images
            before the turn is stored anyway (with a note); Slack wants an answer within 3 s.
        file_hosts: Hosts the bot token may be sent to when downloading ``url_private``
            (the host of ``base_url`` is always allowed, so the fake server works in tests).
        max_message_chars: Longest single message sent; longer replies are split.
        http_timeout_s: Timeout of one Web API call.
        known_threads_max: How many threads the bot remembers being part of (in memory).
        max_body_bytes: Largest inbound HTTP body accepted on ``events_path``.
    """

    enabled: bool = True
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    mode: Literal["http", "socket"] = "http"
    events_path: str = "/slack/events"
    base_url: str = "https://slack.com/api/"
    staff_channel: str | None = None
    stream_update_interval_s: float = 1.0
    max_file_bytes: int = 20 * 1024 * 1024
    ack_budget_s: float = Field(default=2.0, gt=0, le=2.8)
    file_hosts: list[str] = ["files.slack.com"]
    max_message_chars: int = Field(default=3900, ge=100, le=3900)
    http_timeout_s: float = 10.0
    known_threads_max: int = 10_000
    max_body_bytes: int = 1024 * 1024

    @property
    def configured(self) -> bool:
        """Enabled and a bot token is set: ``serve`` runs the adapter."""
        return self.enabled and bool(self.bot_token and self.bot_token.get_secret_value())
