"""Slack adapter settings (section ``slack`` of the YAML; secrets from the environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, SecretStr


class SlackSettings(BaseModel):
    """Slack app settings. The adapter starts only when ``bot_token`` is set.

    Attributes:
        bot_token: ``xoxb-…`` from ``KEFU_SLACK__BOT_TOKEN``.
        signing_secret: From ``KEFU_SLACK__SIGNING_SECRET`` (HTTP mode).
        app_token: ``xapp-…`` from ``KEFU_SLACK__APP_TOKEN`` (Socket Mode).
        mode: ``http`` (Events API) or ``socket``.
        base_url: Web API base URL (tests point it at the fake server).
        staff_channel: Channel id where handoff threads are opened.
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
