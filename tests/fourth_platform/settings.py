"""Settings of the echo platform (config section ``echo``, secrets from the environment)."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr


class EchoSettings(BaseModel):
    """A platform that POSTs JSON ``{"chat": ..., "user": ..., "id": ..., "text": ...}``.

    Attributes:
        token: Shared secret the platform sends as ``X-Echo-Token`` (environment only).
        path: Where the platform POSTs messages.
    """

    token: SecretStr | None = None
    path: str = "/echo/messages"

    @property
    def configured(self) -> bool:
        return bool(self.token and self.token.get_secret_value())
