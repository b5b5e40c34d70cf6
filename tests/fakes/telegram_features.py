"""The newer Bot API parts of the fake Telegram server: drafts, stop buttons, business accounts.

Mixed into :class:`tests.fakes.telegram_server.FakeTelegramServer`. Like Telegram:

* ``sendMessageDraft`` takes only private chats (a positive integer ``chat_id``), a non-zero
  integer ``draft_id`` and 0-4096 characters (empty: the "Thinking…" placeholder); it is not
  available on behalf of business accounts. A draft not updated for ``draft_ttl_s`` (30 s)
  is gone; the next ``sendMessage`` in its chat and topic ends it (``finalized_by``).
* :meth:`DraftFeatures.press_stop` is the user pressing a draft's stop button: it is only
  possible on a live draft sent with ``can_stop``, and gives the update Telegram sends.
* Business connections: ``getBusinessConnection``; sends with ``business_connection_id`` are
  refused for unknown, disabled or reply-less connections, and the sent message carries
  ``business_connection_id`` and ``sender_business_bot`` as Telegram's do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_DRAFT_UNITS = 4096


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class DraftState(StrEnum):
    ACTIVE = "active"
    FINALIZED = "finalized"  # a sendMessage in its chat ended it, in time
    EXPIRED = "expired"  # it was gone (no update for draft_ttl_s) before its message came
    STOPPED = "stopped"  # the user pressed its stop button


@dataclass(slots=True)
class FakeDraft:
    """One draft the bot streamed, with every text it showed."""

    chat_id: int
    thread_id: int | None
    draft_id: int
    texts: list[str] = field(default_factory=list)
    can_stop: bool = False
    last_at: float = 0.0
    state: DraftState = DraftState.ACTIVE
    finalized_by: int | None = None
    expired_gaps: int = 0  # times it went stale between two updates
    calls_after_stop: int = 0


@dataclass(frozen=True, slots=True)
class FakeError:
    status: int
    description: str


@dataclass(slots=True)
class FakeBusiness:
    connection_id: str
    owner: dict[str, Any]
    can_reply: bool = True
    enabled: bool = True


class DraftFeatures:
    """Drafts, stops and business connections (state lives on the server instance)."""

    bot_user: dict[str, Any]
    draft_ttl_s: float
    drafts: dict[tuple[int, int | None, int], FakeDraft]
    business: dict[str, FakeBusiness]

    def init_features(self) -> None:
        self.draft_ttl_s = 30.0
        self.drafts = {}
        self.business = {}

    # -- drafts --------------------------------------------------------------------------

    def chat_drafts(self, chat_id: int) -> list[FakeDraft]:
        return [d for d in self.drafts.values() if d.chat_id == chat_id]

    def _age(self, draft: FakeDraft) -> float:
        return time.monotonic() - draft.last_at

    def _m_sendMessageDraft(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id, draft_id = params.get("chat_id"), params.get("draft_id")
        text = str(params.get("text") or "")
        if params.get("business_connection_id"):
            return FakeError(400, "Bad Request: drafts can't be sent on behalf of a business")
        if not isinstance(chat_id, int) or chat_id <= 0:
            return FakeError(400, "Bad Request: drafts can be sent only to private chats")
        if not isinstance(draft_id, int) or draft_id == 0:
            return FakeError(400, "Bad Request: draft_id must be non-zero")
        if utf16_len(text) > MAX_DRAFT_UNITS:
            return FakeError(400, "Bad Request: text is too long")
        thread = params.get("message_thread_id")
        key = (chat_id, thread if isinstance(thread, int) else None, draft_id)
        draft = self.drafts.get(key)
        if draft is None:
            draft = self.drafts[key] = FakeDraft(*key)
        elif draft.state is DraftState.STOPPED:
            draft.calls_after_stop += 1
        elif draft.state is DraftState.ACTIVE and self._age(draft) > self.draft_ttl_s:
            draft.expired_gaps += 1
        draft.texts.append(text)
        draft.can_stop = bool(params.get("can_stop"))
        draft.last_at = time.monotonic()
        return True

    def finalize_drafts(self, chat_id: int, thread_id: int | None, message_id: int) -> None:
        """A message in the chat and topic ends its live drafts."""
        for draft in self.drafts.values():
            if (draft.chat_id, draft.thread_id) != (chat_id, thread_id):
                continue
            if draft.state is not DraftState.ACTIVE:
                continue
            if self._age(draft) > self.draft_ttl_s:
                draft.state = DraftState.EXPIRED
            else:
                draft.state, draft.finalized_by = DraftState.FINALIZED, message_id

    def press_stop(
        self, chat_id: int, draft_id: int, thread_id: int | None = None
    ) -> dict[str, Any]:
        """The user presses the stop button of a live draft; returns the update to deliver."""
        draft = self.drafts.get((chat_id, thread_id, draft_id))
        assert draft is not None, f"no draft {draft_id} in chat {chat_id}"
        assert draft.state is DraftState.ACTIVE, f"draft {draft_id} is {draft.state}"
        assert draft.can_stop, "the draft shows no stop button"
        draft.state = DraftState.STOPPED
        stopped: dict[str, Any] = {"chat": {"id": chat_id, "type": "private",
                                            "first_name": "Ada"}, "draft_id": draft_id}  # fmt: skip
        if thread_id is not None:
            stopped["message_thread_id"] = thread_id
        return {"update_id": self.updates.next_update_id(), "stopped_message_generation": stopped}  # type: ignore[attr-defined]

    # -- business ------------------------------------------------------------------------

    def connect_business(
        self, connection_id: str, owner: dict[str, Any], can_reply: bool = True,
        enabled: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """An owner connects the bot; returns the ``business_connection`` update."""
        self.business[connection_id] = FakeBusiness(connection_id, owner, can_reply, enabled)
        return {"update_id": self.updates.next_update_id(),  # type: ignore[attr-defined]
                "business_connection": self._connection_json(connection_id)}  # fmt: skip

    def _connection_json(self, connection_id: str) -> dict[str, Any]:
        found = self.business[connection_id]
        return {
            "id": connection_id, "user": found.owner, "user_chat_id": found.owner["id"],
            "date": int(time.time()), "is_enabled": found.enabled,
            "rights": {"can_reply": found.can_reply},
        }  # fmt: skip

    def _m_getBusinessConnection(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        connection_id = str(params.get("business_connection_id") or "")
        if connection_id not in self.business:
            return FakeError(400, "Bad Request: BUSINESS_CONNECTION_INVALID")
        return self._connection_json(connection_id)

    def business_error(self, params: dict[str, Any]) -> FakeError | None:
        """Why a send on behalf of a business account is refused, or None."""
        connection_id = params.get("business_connection_id")
        if not connection_id:
            return None
        found = self.business.get(str(connection_id))
        if found is None:
            return FakeError(400, "Bad Request: BUSINESS_CONNECTION_INVALID")
        if not found.enabled or not found.can_reply:
            return FakeError(403, "Forbidden: BOT_BUSINESS_MISSING")
        return None

    def business_fields(self, params: dict[str, Any]) -> dict[str, Any]:
        """What a message sent on behalf of a business account carries."""
        connection_id = params.get("business_connection_id")
        if not connection_id:
            return {}
        owner = self.business[str(connection_id)].owner
        return {"business_connection_id": connection_id, "from": owner,
                "sender_business_bot": self.bot_user}  # fmt: skip
