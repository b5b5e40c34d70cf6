"""Sending outgoing specs through PTB: paced, resumable, with kefu's delivery errors.

:class:`TelegramSender` turns the specs from :mod:`adapters.telegram.outbound` into Bot API
calls. When the outbox names a streamed draft (``stream_ref``), the first text part is an
``editMessageText`` of that draft and any overflow goes out as new messages. Each part's
message id is recorded in the outbox (``OutboundMessage.progress``) as soon as Telegram
returns it, the last part too (alone, not batched with other rows' "delivered" marks), and
kept in memory: a retry after a 429 on part 3, or after this process was killed during
part 3, sends part 3 onwards, not the whole reply again.

Telegram has no idempotency key and no way to read a chat back, so a kill between Telegram's
answer and that record repeats the part: the one window left. It is bounded twice: in time
(one commit, started the moment Telegram answers) and in size (at most
``max_sends_in_flight`` parts of outbox rows are between "sent to Telegram" and "recorded"
in one process at any moment, so one kill repeats at most that many). The next attempt of
a row its killed process left in that state resends the part deliberately: a repeated
reply is recoverable for the customer, a reply never sent is not.

A process that is alive but starved can outlive its lease on the row, and the replica that
takes the row over sends the same part. So right before each Bot API call of an outbox part
(after the pacing and the in-flight slot, which may wait) the sender asks the outbox whether
the row is still held, with a margin of lease left (``progress.ensure_held``), and stops
without sending when it is not; a record refused because the row was taken over stops it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import RetryAfter, TelegramError

from adapters.telegram.outbound import (
    OutgoingMessage,
    OutgoingPhoto,
    OutgoingText,
    is_edit_target_gone,
    is_not_modified,
    map_telegram_error,
    retry_after_seconds,
)
from adapters.telegram.streaming import ChatPacer
from core.errors import LeaseLostError, PermanentDeliveryError, RateLimitedError
from core.model.turn import Button
from core.ports import DeliveryReceipt, OutboundMessage

log = logging.getLogger(__name__)

MAX_REMEMBERED_ROWS = 1_000
MAX_SENDS_IN_FLIGHT = 4


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One inline button per row; ``callback_data`` is the button's action."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.token)] for b in buttons]
    )


def _reply_parameters(message_id: int | None) -> ReplyParameters | None:
    # The quoted message may have been deleted meanwhile; send anyway.
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


class TelegramSender:
    """Delivers replies.

    Args:
        bot: PTB bot.
        pacer: Per-chat pacer shared with streams.
        max_inline_pace_s: A chat that must stay quiet longer than this (after a 429) makes
            ``deliver`` raise :class:`RateLimitedError` instead of sleeping, so the outbox
            dispatcher reschedules the row.
        max_sends_in_flight: Most outbox parts between their Bot API call and the record of
            its answer at once (what one kill can repeat; see the module docstring).

    Raises:
        ValueError: ``max_sends_in_flight`` below 1.
    """

    def __init__(
        self,
        bot: Bot,
        pacer: ChatPacer,
        max_inline_pace_s: float = 5.0,
        max_sends_in_flight: int = MAX_SENDS_IN_FLIGHT,
    ) -> None:
        if max_sends_in_flight < 1:
            raise ValueError(f"max_sends_in_flight must be at least 1, not {max_sends_in_flight}")
        self._bot = bot
        self._pacer = pacer
        self._max_inline_pace = max_inline_pace_s
        self._in_flight = asyncio.Semaphore(max_sends_in_flight)
        self._progress: OrderedDict[int, list[int]] = OrderedDict()

    async def deliver(
        self, message: OutboundMessage, specs: list[OutgoingMessage]
    ) -> DeliveryReceipt:
        """Send ``specs`` for outbox row ``message``.

        Raises:
            RateLimitedError: Telegram said 429 (``retry_after`` from Telegram).
            PermanentDeliveryError: the bot is blocked, the chat is gone, nothing to send.
            PlatformError: any other Bot API failure.
            LeaseLostError: the row is no longer held (see the module docstring).
        """
        if not specs:
            raise PermanentDeliveryError(f"outbox {message.outbox_id}: reply has nothing to send")
        sent = self._progress.setdefault(message.outbox_id, [])
        if len(message.sent) > len(sent):  # recorded by an attempt in a process since killed
            sent[:] = [int(part) for part in message.sent]
        self._progress.move_to_end(message.outbox_id)
        while len(self._progress) > MAX_REMEMBERED_ROWS:
            self._progress.popitem(last=False)
        ref = message.stream_ref or ""
        draft = int(ref) if ref.isdigit() else None
        first_text = next((i for i, s in enumerate(specs) if isinstance(s, OutgoingText)), None)

        async def record(message_id: int) -> None:
            sent.append(message_id)  # in memory first: an in-process retry never repeats it
            if message.progress is not None:
                await message.progress.parts_sent(tuple(str(part) for part in sent))

        check = message.progress.ensure_held if message.progress is not None else None
        try:
            for index, spec in enumerate(specs):
                if index < len(sent):
                    continue  # sent by an earlier attempt of this row
                await self._send(spec, draft if index == first_text else None, record, check)
        except (PermanentDeliveryError, LeaseLostError):
            # Lost: the outbox, not this memory, says what the row's next holder resumes at.
            self._progress.pop(message.outbox_id, None)
            raise
        self._progress.pop(message.outbox_id, None)
        return DeliveryReceipt(tuple(str(message_id) for message_id in sent))

    async def _send(
        self,
        spec: OutgoingMessage,
        draft: int | None,
        record: Callable[[int], Awaitable[None]] | None = None,
        check: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Pace the chat, ``check`` the row is still held, send, and with ``record`` (outbox
        parts) record the answer while still counted in flight."""
        chat = str(spec.chat_id)
        delay = self._pacer.peek(chat)
        if delay > self._max_inline_pace:
            raise RateLimitedError(f"chat {chat} is rate limited", retry_after=delay)
        await self._pacer.wait(chat)  # outside the bound: a paced chat holds no slot
        gate = self._in_flight if record is not None else contextlib.nullcontext()
        async with gate:
            if check is not None:  # last, right before the call: waits above take time
                await check()
            message_id = await self._call(spec, draft)
            if record is not None:
                await record(message_id)
        return message_id

    async def _call(self, spec: OutgoingMessage, draft: int | None) -> int:
        action = "sendPhoto" if isinstance(spec, OutgoingPhoto) else "sendMessage"
        try:
            if isinstance(spec, OutgoingPhoto):
                return await self._send_photo(spec)
            if draft is not None:
                action = "editMessageText"
                return await self._edit_draft(spec, draft)
            return await self._send_text(spec)
        except RetryAfter as exc:
            self._pacer.defer(str(spec.chat_id), retry_after_seconds(exc))
            raise map_telegram_error(exc, action) from None
        except TelegramError as exc:
            raise map_telegram_error(exc, action) from None

    async def _send_text(self, spec: OutgoingText) -> int:
        sent = await self._bot.send_message(
            spec.chat_id,
            spec.text,
            message_thread_id=spec.thread_id,
            reply_parameters=_reply_parameters(spec.reply_to_message_id),
            reply_markup=keyboard(spec.buttons),
            business_connection_id=spec.business_connection_id,
        )
        return sent.message_id

    async def _send_photo(self, spec: OutgoingPhoto) -> int:
        sent = await self._bot.send_photo(
            spec.chat_id,
            spec.photo.data,
            caption=spec.caption or None,
            message_thread_id=spec.thread_id,
            reply_parameters=_reply_parameters(spec.reply_to_message_id),
            business_connection_id=spec.business_connection_id,
        )
        return sent.message_id

    async def _edit_draft(self, spec: OutgoingText, draft: int) -> int:
        try:
            await self._bot.edit_message_text(
                spec.text,
                spec.chat_id,
                draft,
                reply_markup=keyboard(spec.buttons),
                business_connection_id=spec.business_connection_id,
            )
        except TelegramError as exc:
            if is_not_modified(exc):
                return draft  # the draft already shows exactly the final text
            if is_edit_target_gone(exc):
                log.info("draft %s in chat %s is gone; sending anew", draft, spec.chat_id)
                return await self._send_text(spec)
            raise
        return draft

    async def send_notice(
        self, spec: OutgoingText, attempts: int = 3, max_wait_s: float = 60.0
    ) -> int:
        """Send a fixed notice directly (not through the outbox), waiting out short 429s.

        Raises:
            PlatformError: (or a subclass) when it still could not be sent.
        """
        for attempt in range(1, attempts + 1):
            try:
                return await self._send(spec, None)
            except RateLimitedError as exc:
                if attempt == attempts or exc.retry_after > max_wait_s:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")  # pragma: no cover
