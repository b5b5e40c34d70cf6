"""The Bot API features newer than python-telegram-bot 22: the one place that speaks them raw.

PTB 22.8 speaks Bot API 10.0. Drafts with a stop button (``sendMessageDraft``'s ``can_stop``
and ``keep_on_stop``, Bot API 10.3) and the update a pressed stop button sends are newer,
so they go through PTB's raw request path (:meth:`telegram.Bot.do_api_request`) and the
``api_kwargs`` PTB keeps for fields it does not know. Nothing else in the adapter touches
raw Bot API names; when PTB learns these, only this module changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Bot, Update

from core.model.turn import Command, ConversationKey, Role, Sender, Turn

SEND_MESSAGE_DRAFT = "sendMessageDraft"
# The update a pressed stop button sends (Bot API 10.3). Telegram's changelog calls it
# ``stopped_message_generation``; the other spelling is read too, in case a server or a
# library uses the type's name (MessageGenerationStopped).
STOP_UPDATE = "stopped_message_generation"
STOP_UPDATE_ALIASES = (STOP_UPDATE, "message_generation_stopped")
MAX_DRAFT_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Draft:
    """One ``sendMessageDraft`` call.

    Attributes:
        chat_id: A private chat (drafts exist only there).
        draft_id: Non-zero; updates of one id are animated as one draft.
        text: Up to 4096 characters; empty shows Telegram's "Thinking…" placeholder.
        thread_id: A topic of the private chat, if any.
        can_stop: Show the user a button to stop the answer (Bot API 10.3).
    """

    chat_id: int
    draft_id: int
    text: str = ""
    thread_id: int | None = None
    can_stop: bool = False


async def send_message_draft(bot: Bot, draft: Draft, timeout_s: float = 10.0) -> None:
    """Show or update a draft in a private chat.

    Raises:
        telegram.error.TelegramError: as for any Bot API call (``RetryAfter`` on a 429).
    """
    # keep_on_stop stays off: a stopped answer disappears, and nothing more is sent.
    newer: dict[str, Any] = {"can_stop": True} if draft.can_stop else {}
    method = getattr(bot, "send_message_draft", None)
    if method is not None:  # PTB 22.6+ knows the method (Bot API 9.3) but not can_stop
        await method(
            draft.chat_id, draft.draft_id, draft.text, message_thread_id=draft.thread_id,
            api_kwargs=newer or None, read_timeout=timeout_s, write_timeout=timeout_s,
        )  # fmt: skip
        return
    params: dict[str, Any] = {"chat_id": draft.chat_id, "draft_id": draft.draft_id,
                              "text": draft.text, **newer}  # fmt: skip
    if draft.thread_id is not None:
        params["message_thread_id"] = draft.thread_id
    await bot.do_api_request(
        SEND_MESSAGE_DRAFT, api_kwargs=params, read_timeout=timeout_s, write_timeout=timeout_s
    )


@dataclass(frozen=True, slots=True)
class GenerationStopped:
    """A user pressed the stop button of a draft.

    Attributes:
        update_id: The update's id (polling offsets).
        chat_id: The private chat.
        thread_id: Its topic, if any.
        draft_id: The stopped draft.
    """

    update_id: int
    chat_id: int
    thread_id: int | None
    draft_id: int


def generation_stopped(update: Update) -> GenerationStopped | None:
    """The stop an update reports, or None when it reports none (or a malformed one)."""
    extra = update.api_kwargs or {}
    raw = next((extra[k] for k in STOP_UPDATE_ALIASES if isinstance(extra.get(k), dict)), None)
    if raw is None:
        return None
    chat = raw.get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else raw.get("chat_id")
    draft_id = raw.get("draft_id")
    thread_id = raw.get("message_thread_id")
    if not isinstance(chat_id, int) or not isinstance(draft_id, int):
        return None
    return GenerationStopped(
        update.update_id, chat_id, thread_id if isinstance(thread_id, int) else None, draft_id
    )


def stop_turn(stopped: GenerationStopped) -> Turn:
    """A stop as a durable ``STOP`` turn, for an answer written by another process."""
    thread = str(stopped.thread_id) if stopped.thread_id is not None else ""
    key = ConversationKey("telegram", str(stopped.chat_id), thread)
    sender = Sender(str(stopped.chat_id), role=Role.CUSTOMER)  # a private chat is its user's
    message_id = f"{stopped.chat_id}:stop:{stopped.draft_id}"
    return Turn(key, sender, message_id, (), command=Command.STOP)
