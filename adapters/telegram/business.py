"""Telegram Business: a shop owner connects their own Telegram account, and kefu answers in it.

Telegram sends ``business_connection`` updates when an owner connects, changes or removes
the bot, and ``business_message`` updates for every message in the account's private chats:
the customers' messages, and the owner's own (the owner's also arrive when a bot sent them
on the owner's behalf; those carry ``sender_business_bot``). kefu answers a customer only
while the connection is enabled and lets the bot reply (``rights.can_reply``); a message the
owner wrote themselves means the owner is answering, and kefu goes quiet in that chat.

:class:`BusinessConnections` remembers what the updates said and asks ``getBusinessConnection``
about connections it has not seen (after a restart), caching the answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from telegram import Bot, BusinessConnection, Update
from telegram.error import TelegramError

from adapters.telegram.inbound import BotIdentity, Inbound, parse_message
from adapters.telegram.outbound import BUSINESS_THREAD_PREFIX, business_key
from core.model.turn import Command, Role, Sender

log = logging.getLogger(__name__)

MAX_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class BusinessAccount:
    """A connected business account.

    Attributes:
        connection_id: Telegram's business connection id.
        owner_id: The account owner's user id (their messages are the owner's, not a customer's).
        owner_name: The owner's name, for transcripts.
        can_reply: The bot may answer in the account's chats.
        enabled: The connection is on.
    """

    connection_id: str
    owner_id: int
    owner_name: str
    can_reply: bool
    enabled: bool

    @property
    def answers(self) -> bool:
        """kefu answers customers through this account."""
        return self.enabled and self.can_reply

    @classmethod
    def of(cls, connection: BusinessConnection) -> BusinessAccount:
        rights = connection.rights
        can_reply = bool(rights.can_reply) if rights is not None else False
        return cls(
            connection.id, connection.user.id, connection.user.full_name, can_reply,
            connection.is_enabled,
        )  # fmt: skip


class BusinessConnections:
    """The business accounts this bot is connected to.

    Args:
        bot: PTB bot (``getBusinessConnection``).
        retry_after_s: How long a failed lookup is not repeated.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self, bot: Bot, retry_after_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bot = bot
        self._accounts: OrderedDict[str, BusinessAccount] = OrderedDict()
        self._failed: dict[str, float] = {}
        self._retry_after = retry_after_s
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    def remember(self, connection: BusinessConnection) -> BusinessAccount:
        """What a ``business_connection`` update says (connected, changed, disabled)."""
        account = BusinessAccount.of(connection)
        self._store(account)
        log.info(
            "telegram business connection %s of %s: %s", account.connection_id,
            account.owner_id, "answering" if account.answers else "not answering",
        )  # fmt: skip
        return account

    def _store(self, account: BusinessAccount) -> None:
        self._accounts[account.connection_id] = account
        self._accounts.move_to_end(account.connection_id)
        self._failed.pop(account.connection_id, None)
        while len(self._accounts) > MAX_REMEMBERED:
            self._accounts.popitem(last=False)

    async def get(self, connection_id: str) -> BusinessAccount | None:
        """The account behind ``connection_id``; None when Telegram does not know it."""
        known = self._accounts.get(connection_id)
        if known is not None:
            return known
        if self._clock() < self._failed.get(connection_id, -1e9) + self._retry_after:
            return None
        async with self._locks.setdefault(connection_id, asyncio.Lock()):
            if connection_id in self._accounts:
                return self._accounts[connection_id]
            try:
                connection = await self._bot.get_business_connection(connection_id)
            except TelegramError as exc:
                log.warning("getBusinessConnection %s failed: %s", connection_id, exc.message)
                self._failed[connection_id] = self._clock()
                return None
            finally:
                self._locks.pop(connection_id, None)
            account = BusinessAccount.of(connection)
            self._store(account)
            return account


def parse_business(update: Update, bot: BotIdentity, account: BusinessAccount) -> Inbound | None:
    """A business account's message as an :class:`Inbound`; None when kefu ignores it.

    A customer's message is a customer turn in the business conversation (its key's thread
    names the connection). A message the owner wrote themselves becomes a ``TAKEOVER`` turn
    by staff. Messages a bot sent on the owner's behalf (kefu's own answers) are ignored.
    """
    message = update.business_message or update.edited_business_message
    if message is None or message.from_user is None or message.sender_business_bot is not None:
        return None
    edited = update.business_message is None
    inbound = parse_message(update.update_id, message, bot, edited)
    if inbound is None:
        return None
    suffix = f":{BUSINESS_THREAD_PREFIX}{account.connection_id}"
    fields: dict[str, Any] = {
        "key": business_key(message.chat.id, account.connection_id),
        "message_id": inbound.message_id + suffix,  # "<chat>:<id>…" keeps quoting working
        "reply_to": inbound.reply_to + suffix if inbound.reply_to else None,
        "addressed": True,  # a private chat of the account
    }
    if message.from_user.id == account.owner_id:
        fields["sender"] = Sender(str(account.owner_id), account.owner_name, Role.STAFF)
        fields["command"] = Command.TAKEOVER
    return replace(inbound, **fields)
