"""Business accounts: connections looked up and remembered; their messages understood."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, Update

from adapters.telegram.business import BusinessAccount, BusinessConnections, parse_business
from adapters.telegram.inbound import BotIdentity
from core.model.turn import Command, ConversationKey, Role
from tests.fakes.telegram_server import FakeTelegramServer

OWNER = {"id": 9001, "is_bot": False, "first_name": "Mei"}
BOT = BotIdentity(777000111, "kefu_test_bot")
ACCOUNT = BusinessAccount("bc1", 9001, "Mei", can_reply=True, enabled=True)


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as client:
        yield client


async def test_connections_are_remembered_and_looked_up_once(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    connections = BusinessConnections(bot)
    update = Update.de_json(tg.connect_business("bc1", OWNER, can_reply=False), bot)
    assert update.business_connection is not None
    told = connections.remember(update.business_connection)
    assert (told.owner_id, told.answers) == (9001, False)
    assert await connections.get("bc1") == told and tg.calls_of("getBusinessConnection") == []
    tg.connect_business("bc2", OWNER)  # connected while kefu was down
    looked_up = await connections.get("bc2")
    assert looked_up is not None and looked_up.answers
    assert await connections.get("bc2") == looked_up
    assert len(tg.calls_of("getBusinessConnection")) == 1
    assert await connections.get("nope") is None
    assert await connections.get("nope") is None  # not asked again right away
    assert len(tg.calls_of("getBusinessConnection")) == 2


def test_customer_owner_and_echo_messages(tg: FakeTelegramServer) -> None:
    customer = Update.de_json(tg.updates.business_message("hi", "bc1", message_id=5), None)
    parsed = parse_business(customer, BOT, ACCOUNT)
    assert parsed is not None
    assert parsed.key == ConversationKey("telegram", "42", "biz:bc1")
    assert parsed.message_id == "42:5:biz:bc1" and parsed.sender.role is Role.CUSTOMER
    assert parsed.command is None and parsed.addressed
    owner = Update.de_json(tg.updates.business_message("Mei here", "bc1", user=OWNER), None)
    taken = parse_business(owner, BOT, ACCOUNT)
    assert taken is not None and taken.command is Command.TAKEOVER
    assert (taken.sender.user_id, taken.sender.role) == ("9001", Role.STAFF)
    echo = tg.updates.business_message("an answer", "bc1", user=OWNER,
                                       sender_business_bot=tg.bot_user)  # fmt: skip
    assert parse_business(Update.de_json(echo, None), BOT, ACCOUNT) is None
    edited = Update.de_json(tg.updates.business_message("hi!", "bc1", edited=True), None)
    again = parse_business(edited, BOT, ACCOUNT)
    assert (
        again is not None and ":edit:" in again.message_id and again.message_id.endswith(":biz:bc1")
    )
