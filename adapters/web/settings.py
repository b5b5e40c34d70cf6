"""Web chat settings (section ``web``): the chat page at ``/`` and the operator desk at ``/ops``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebSettings(BaseModel):
    """The browser chat and the operator desk kefu serves itself.

    Attributes:
        enabled: Serve the chat page (``/``) and the web desk; on by default, so a new shop
            can try its bot in a browser before it connects any platform.
        max_images: Photos one message may carry.
        kept_events: Events kept per conversation for a page that reconnects (what arrived
            while it was closed is replayed from these).
    """

    enabled: bool = True
    max_images: int = Field(6, ge=1, le=20)
    kept_events: int = Field(200, ge=10, le=5000)

    @property
    def configured(self) -> bool:
        """``serve`` runs the web chat unless it is switched off."""
        return self.enabled
