"""Generic webhook adapter settings (section ``webhook``; secrets from the environment)."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr


class WebhookSource(BaseModel):
    """One third-party platform that POSTs to ``/webhooks/{name}``.

    Attributes:
        secret: ``whsec_…`` Standard Webhooks secret, from
            ``KEFU_WEBHOOK__SOURCES__<NAME>__SECRET``. Extra secrets allow rotation.
        callback_url: Where replies are POSTed (signed); None means wait/SSE only.
    """

    secret: SecretStr | None = None
    previous_secrets: list[SecretStr] = []
    callback_url: str | None = None


class WebhookSettings(BaseModel):
    enabled: bool = True
    sources: dict[str, WebhookSource] = {}
    max_body_bytes: int = 30 * 1024 * 1024
    tolerance_s: int = 300
    fetch_timeout_s: float = 10.0
    max_image_bytes: int = 20 * 1024 * 1024
    callback_retry_schedule_s: list[float] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    wait_timeout_s: float = 60.0
