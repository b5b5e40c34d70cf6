"""Slack messages and clicks as turns (feedback clicks included)."""

from __future__ import annotations

from adapters.slack.inbound import SlackInbound
from adapters.slack.payloads import SlackAction, parse_message
from adapters.slack.turns import build_turn
from core.model.turn import Audience, Command, ConversationKey, Role
from tests.fakes.slack_server import message_event


def click(value: str) -> SlackAction:
    return SlackAction("D1", "1.5", "1.1", "U1", "alice", "kefu_feedback", value, "👍", "1.9")


def test_feedback_clicks_name_the_rated_turn() -> None:
    up = build_turn(click("feedback:thumbs_up:12"), "UKEFUBOT")
    assert (up.command, up.command_arg) == (Command.THUMBS_UP, "12")
    assert up.key == ConversationKey("slack", "D1", "1.1") and up.sender.role is Role.STAFF
    assert up.message_id == "D1:action:1.9"
    odd = build_turn(click("something-else"), "UKEFUBOT")
    assert (odd.command, odd.command_arg) == (Command.UNKNOWN, "something-else")


def test_a_message_in_a_thread() -> None:
    event = message_event("C1", "U1", "<@UKEFUBOT> price of SKU-9?", "1.6", thread_ts="1.1")
    turn = build_turn(SlackInbound(parse_message(event)), "UKEFUBOT")
    assert turn.text == "price of SKU-9?" and turn.key.thread_id == "1.1"
    assert turn.reply_to == "C1:1.1" and turn.command is None
    assert turn.audience is Audience.PRIVATE  # the fake's default channel_type is "im"
    event = message_event("C1", "U1", "hi", "1.8", channel_type="channel")
    in_channel = build_turn(SlackInbound(parse_message(event)), "UKEFUBOT")
    assert in_channel.audience is Audience.GROUP  # everyone in the channel reads the answer


def test_a_direct_message_is_private() -> None:
    event = message_event("D1", "U1", "where is SO20261118-0107?", "1.7")
    assert build_turn(SlackInbound(parse_message(event)), "UKEFUBOT").audience is Audience.PRIVATE
