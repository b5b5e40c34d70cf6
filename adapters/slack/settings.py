"""Slack adapter settings (section ``slack`` of the YAML; secrets from the environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class SuggestedPrompt(BaseModel):
    """One prompt offered in the assistant view: a short title and the message it sends."""

    title: str = Field(min_length=1, max_length=75)
    message: str = Field(min_length=1, max_length=2000)


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
            before the turn is stored anyway; Slack wants an answer within 3 s. A file not in
            by then is fetched later: the turn is stored held (later messages of its thread
            wait behind it) and answered once the file is in (see ``adapters.slack.deferred``).
        deferred_file_timeout_s: How long after the event a late file is still waited for
            (download retried with backoff); then it becomes a note and the turn is answered.
        deferred_file_attempt_s: Longest single download attempt of a late file (a stalled
            connection is cut and tried again).
        deferred_file_lease_s: Lease of a process on the held turns whose files it fetches
            (renewed every third of it); a killed process's turns are resumed this long after
            its last renewal, by another replica or by itself after the restart.
        file_hosts: Hosts the bot token may be sent to when downloading ``url_private``
            (the host of ``base_url`` is always allowed, so the fake server works in tests).
        max_message_chars: Longest single message sent; longer replies are split.
        http_timeout_s: Timeout of one Web API call.
        known_threads_max: How many threads the bot remembers being part of (in memory).
        max_body_bytes: Largest inbound HTTP body accepted on ``events_path``.
        native_streaming: Stream answers with ``chat.startStream`` / ``appendStream`` /
            ``stopStream``; off: a posted draft edited with ``chat.update`` (also the
            fallback when Slack closes a stream).
        status: Show ``assistant.threads.setStatus`` while an answer is prepared.
        status_text: The status shown ("is thinking…").
        loading_messages: Messages Slack rotates under the status.
        feedback_buttons: Thumbs up / down under answers; every click is stored and
            exported (``main.py feedback export``) as evaluation cases.
        suggested_prompts: Offered when staff open the assistant view (at most 4).
        suggested_prompts_title: The heading above them.
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
    deferred_file_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    deferred_file_attempt_s: float = Field(default=20.0, gt=0, le=600)
    deferred_file_lease_s: float = Field(default=10.0, gt=0, le=300)
    file_hosts: list[str] = ["files.slack.com"]
    max_message_chars: int = Field(default=3900, ge=100, le=3900)
    http_timeout_s: float = 10.0
    known_threads_max: int = 10_000
    max_body_bytes: int = 1024 * 1024
    native_streaming: bool = True
    status: bool = True
    status_text: str = "is thinking…"
    loading_messages: list[str] = []
    feedback_buttons: bool = True
    suggested_prompts: list[SuggestedPrompt] = Field(
        default_factory=lambda: [
            SuggestedPrompt(title="Look up an order", message="Where is order SO20261102-0042?"),
            SuggestedPrompt(title="A customer's orders", message="Orders of telegram 1001"),
            SuggestedPrompt(title="Product facts", message="How much is the Oxford shirt?"),
        ],
        max_length=4,
    )
    suggested_prompts_title: str = "Ask about orders, customers and products"

    @property
    def configured(self) -> bool:
        """Enabled and a bot token is set: ``serve`` runs the adapter."""
        return self.enabled and bool(self.bot_token and self.bot_token.get_secret_value())
