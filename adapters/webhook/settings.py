"""Generic webhook adapter settings (section ``webhook``; secrets from the environment)."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr


class WebhookSource(BaseModel):
    """One third-party platform that POSTs to ``/webhooks/{name}``.

    Attributes:
        secret: ``whsec_…`` Standard Webhooks secret, from
            ``KEFU_WEBHOOK__SOURCES__<NAME>__SECRET``. It verifies inbound requests and
            signs outbound callbacks.
        previous_secrets: Older secrets still accepted inbound, for rotation.
        callback_url: Where replies are POSTed (signed); None means wait/SSE only.
            Operator-configured and trusted, so it is not behind the SSRF guard.
    """

    secret: SecretStr | None = None
    previous_secrets: list[SecretStr] = []
    callback_url: str | None = None


class WebhookSettings(BaseModel):
    """Settings of the generic webhook adapter.

    Attributes:
        callback_retry_schedule_s: Delivery attempt times for callbacks, each relative to
            the previous attempt; the first entry (0) is the first attempt. After the last
            attempt fails the reply is dead-lettered.
        callback_timeout_s: Time limit of one callback POST.
        wait_timeout_s: How long ``?wait=true`` and SSE requests wait for the final reply.
        max_images / max_text_chars: Per-message limits (422 above them).
        allow_image_urls: Accept ``{"url": …}`` images (fetched through the SSRF guard).
        image_url_allow_networks: CIDRs exempt from the SSRF guard (e.g. an internal CDN).
            Empty by default: loopback, private and link-local addresses are refused.
    """

    enabled: bool = True
    sources: dict[str, WebhookSource] = {}
    max_body_bytes: int = 30 * 1024 * 1024
    tolerance_s: int = 300
    fetch_timeout_s: float = 10.0
    max_image_bytes: int = 20 * 1024 * 1024
    callback_retry_schedule_s: list[float] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    callback_timeout_s: float = 10.0
    wait_timeout_s: float = 60.0
    max_images: int = 10
    max_text_chars: int = 32_000
    allow_image_urls: bool = True
    image_url_allow_networks: list[str] = []

    @property
    def configured(self) -> bool:
        """Enabled and at least one source is set: ``serve`` runs the adapter."""
        return self.enabled and bool(self.sources)
