"""The web staff desk: handoffs land on the operator desk at ``/ops`` (the default target).

The desk itself only tells open operator pages that something changed; they read the
queue, the transcript and the draft from the store (``adapters/web/ops.py``). Operators
act by sending staff turns on the handoff's thread, ``web|ops|<handoff id>``, through the
inbox like Slack's buttons and thread replies, so :mod:`core.handoff.relay` applies the
same Take / Reply / Resolve / Return-to-bot rules to both desks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.web.adapter import DESK_CHANNEL, OPS_CHAT, WebAdapter
from adapters.web.hub import EventHub, EventKind
from adapters.web.settings import WebSettings
from config.handoff import HandoffSettings
from core.errors import DeskUnavailableError
from core.handoff.desk import HandoffBrief, Progress, RelayedMessage
from core.model.handoff import HandoffRecord
from core.model.turn import ConversationKey


def staff_key(handoff_id: int) -> ConversationKey:
    """Where an operator's actions on a handoff are sent (its staff thread)."""
    return ConversationKey(WebAdapter.name, OPS_CHAT, str(handoff_id))


class WebDesk:
    """Announces handoffs to the operator pages.

    Args:
        events: The adapter's desk event hub.
    """

    target = "web"

    def __init__(self, events: EventHub) -> None:
        self.events = events

    async def start(self, active_refs: Sequence[str]) -> None:
        """Nothing to re-join: the desk reads active handoffs from the store."""

    async def stop(self) -> None:
        """Nothing of its own to close."""

    def staff_ref_of(self, key: ConversationKey) -> str | None:
        """``"ops|<handoff id>"`` for an operator's turn on a handoff thread."""
        if key.platform != WebAdapter.name or key.chat_id != OPS_CHAT or not key.thread_id:
            return None
        return f"{OPS_CHAT}|{key.thread_id}"

    def _tell(self, record: HandoffRecord, event: str, **extra: Any) -> str:
        payload = {"event": event, "handoff": str(record.id), "status": str(record.status)}
        published = self.events.publish(DESK_CHANNEL, EventKind.DESK, payload | extra)
        return f"web-{published.id}"

    async def open(self, brief: HandoffBrief, progress: Progress) -> str:
        record = brief.record
        self._tell(record, "opened", reason=record.reason, customer=record.customer_key.as_str())
        return f"{OPS_CHAT}|{record.id}"

    async def details(self, brief: HandoffBrief, staff_ref: str, progress: Progress) -> None:
        """The transcript and the draft are read from the store by the desk page."""

    async def relay(
        self, record: HandoffRecord, message: RelayedMessage, progress: Progress
    ) -> None:
        progress.platform_ids.append(
            self._tell(record, "customer", text=message.text, photos=len(message.images))
        )

    async def remind(self, record: HandoffRecord, text: str, progress: Progress) -> None:
        progress.platform_ids.append(self._tell(record, "reminder", text=text))


def build_desk(adapter: Any, settings: WebSettings, handoff: HandoffSettings) -> WebDesk:
    """The desk for ``handoff.target: web``.

    Raises:
        DeskUnavailableError: the web adapter does not run (``web.enabled`` is off).
    """
    if not isinstance(adapter, WebAdapter):
        raise DeskUnavailableError("handoff: the web desk needs the web chat (web.enabled)")
    return WebDesk(adapter.desk_events)
