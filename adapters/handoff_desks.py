"""Staff desks for handoffs, per target: a Slack thread or a webhook helpdesk.

The core's handoff service knows only the ``StaffDesk`` protocol; the composition root
passes these factories in, so ``core/`` never imports a platform library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.handoff import HandoffSettings
from core.handoff.desk import DeskFactory, StaffDesk


def build_desks(settings: HandoffSettings) -> dict[str, DeskFactory]:
    """Desk factories for the targets ``settings`` can serve."""

    def slack(adapters: Mapping[str, Any], channel: str | None) -> StaffDesk:
        from adapters.slack.desk import SlackDesk

        assert channel is not None, "the handoff service checks the channel first"
        return SlackDesk(adapters["slack"], channel, settings.ping_mention)

    def webhook(_adapters: Mapping[str, Any], _channel: str | None) -> StaffDesk:
        from adapters.webhook.helpdesk import WebhookDesk

        secret = settings.helpdesk_secret
        assert settings.helpdesk_url and secret is not None, "checked by check_config"
        return WebhookDesk(
            settings.helpdesk_url,
            secret.get_secret_value(),
            settings.helpdesk_timeout_s,
            settings.max_image_bytes_to_helpdesk,
        )

    return {"slack": slack, "webhook": webhook}
