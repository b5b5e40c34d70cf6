"""The webhook staff desk: handoffs POSTed to another helpdesk as signed JSON.

Each event is one Standard Webhooks request (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), sent with :class:`adapters.webhook.callbacks.CallbackSender`, so
the status handling matches kefu's reply callbacks: 2xx delivered, 410 dead-lettered,
429/502/504 wait ``Retry-After``, anything else retried. The ``webhook-id`` is stable
per event (``handoff_<id>_opened``, ``handoff_msg_<outbox id>``, ...), so a retried
POST can be deduplicated by the receiver.

Events: ``handoff.opened`` (customer, platform, reason, summary, transcript with photos,
draft), ``handoff.message`` (a customer message during the handoff) and
``handoff.reminder`` (nobody took it in time).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from adapters.webhook.callbacks import CallbackSender
from adapters.webhook.settings import WebhookSettings
from adapters.webhook.signing import parse_secret
from config.handoff import HandoffSettings
from core.errors import ConfigError
from core.handoff.desk import HandoffBrief, Progress, RelayedMessage
from core.model.handoff import HandoffRecord, TranscriptEntry
from core.model.turn import ConversationKey, ImagePart, Sender


class WebhookDesk:
    """Sends handoffs to a helpdesk URL.

    Args:
        url: The helpdesk endpoint.
        secret: ``whsec_<base64>`` signing secret.
        timeout_s: Time limit of one POST.
        max_image_bytes: Photos up to this size are inlined (base64); larger ones are
            described by hash and size only.

    Raises:
        ConfigError: the secret is not ``whsec_<base64>``.
    """

    target = "webhook"

    def __init__(
        self, url: str, secret: str, timeout_s: float = 10.0, max_image_bytes: int = 5 * 1024 * 1024
    ) -> None:
        self.url = url
        self._key = parse_secret(secret)
        self._sender = CallbackSender(timeout_s)
        self.max_image_bytes = max_image_bytes

    async def start(self, active_refs: Sequence[str]) -> None:
        """Nothing to re-join: the helpdesk keeps its tickets."""

    async def stop(self) -> None:
        await self._sender.close()

    def staff_ref_of(self, key: ConversationKey) -> str | None:
        """Staff answer in the helpdesk, never in a kefu conversation."""
        return None

    async def _post(self, webhook_id: str, event: dict[str, Any], progress: Progress) -> None:
        if progress.steps_done:
            return  # already delivered by an earlier attempt of this delivery
        body = json.dumps(event, ensure_ascii=False).encode()
        await self._sender.post(self.url, self._key, webhook_id, body)
        progress.platform_ids.append(webhook_id)
        progress.steps_done = 1

    async def open(self, brief: HandoffBrief, progress: Progress) -> str:
        """POST ``handoff.opened`` with everything staff need; returns ``"webhook|<id>"``."""
        record, summary = brief.record, brief.summary
        event = {
            "type": "handoff.opened",
            "handoff": _handoff_json(record),
            "customer": _customer_json(record, summary.customer),
            "summary": {
                "topics": list(summary.intents), "latest_messages": list(summary.recent),
                "photos": summary.photos, "order_numbers": list(summary.order_numbers),
            },
            "transcript": [self._entry_json(e) for e in brief.transcript],
            "draft": brief.draft or None,
        }  # fmt: skip
        await self._post(f"handoff_{record.id}_opened", event, progress)
        return f"webhook|{record.id}"

    async def details(self, brief: HandoffBrief, staff_ref: str, progress: Progress) -> None:
        """Nothing more: ``handoff.opened`` carried everything."""

    async def relay(
        self, record: HandoffRecord, message: RelayedMessage, progress: Progress
    ) -> None:
        event = {
            "type": "handoff.message",
            "handoff": _handoff_json(record),
            "customer": _customer_json(record, message.customer),
            "message": {
                "text": message.text,
                "images": [self._image_json(i) for i in message.images],
            },
        }
        await self._post(f"handoff_msg_{progress.delivery_id}", event, progress)

    async def remind(self, record: HandoffRecord, text: str, progress: Progress) -> None:
        event = {"type": "handoff.reminder", "handoff": _handoff_json(record), "text": text}
        await self._post(f"handoff_{record.id}_reminder_{progress.delivery_id}", event, progress)

    def _image_json(self, image: ImagePart) -> dict[str, Any]:
        data: dict[str, Any] = {"sha256": image.sha256, "mime": image.mime, "width": image.width,
                                "height": image.height, "caption": image.caption,
                                "bytes": len(image.data)}  # fmt: skip
        if len(image.data) <= self.max_image_bytes:
            data["data_base64"] = base64.b64encode(image.data).decode("ascii")
        return data

    def _entry_json(self, entry: TranscriptEntry) -> dict[str, Any]:
        return {
            "role": entry.role.value, "name": entry.sender.display_name,
            "user_id": entry.sender.user_id, "text": entry.text, "command": entry.command,
            "at": entry.at.isoformat(), "images": [self._image_json(i) for i in entry.images],
        }  # fmt: skip


def _handoff_json(record: HandoffRecord) -> dict[str, Any]:
    return {"id": record.id, "status": record.status, "reason": record.reason,
            "created_at": record.created_at.isoformat()}  # fmt: skip


def _customer_json(record: HandoffRecord, customer: Sender) -> dict[str, Any]:
    return {"platform": record.customer_key.channel, "user_id": customer.user_id,
            "name": customer.display_name, "conversation": record.customer_key.as_str()}  # fmt: skip


def build_desk(
    _adapter: object, _settings: WebhookSettings, handoff: HandoffSettings
) -> WebhookDesk:
    """The desk for ``handoff.target: webhook`` (needs no webhook source of its own).

    Raises:
        ConfigError: no helpdesk URL or secret, or a secret that is not ``whsec_<base64>``.
    """
    secret = handoff.helpdesk_secret
    if not handoff.helpdesk_url or secret is None or not secret.get_secret_value():
        raise ConfigError(
            "handoff: the webhook target needs handoff.helpdesk_url and "
            "KEFU_HANDOFF__HELPDESK_SECRET"
        )
    return WebhookDesk(
        handoff.helpdesk_url,
        secret.get_secret_value(),
        handoff.helpdesk_timeout_s,
        handoff.max_image_bytes_to_helpdesk,
    )
