"""Parsing Slack payloads into typed views, and cleaning message text for the model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.slack.payloads import (
    clean_text,
    mentions_user,
    parse_block_actions,
    parse_message,
    slack_ts_to_datetime,
)
from core.errors import InvalidInputError
from tests.fakes.slack_server import block_actions, message_event


def test_parse_message_with_files_and_thread() -> None:
    files = [
        {
            "id": "F1",
            "name": "a.png",
            "mimetype": "image/png",
            "size": 10,
            "url_private": "https://files.slack.com/a",
            "url_private_download": "https://files.slack.com/a?dl",
        }
    ]
    event = message_event(
        "C1",
        "U1",
        "hi",
        "1700000000.000200",
        channel_type="channel",
        thread_ts="1700000000.000100",
        files=files,
    )
    event["user_profile"] = {"display_name": "", "real_name": "Alice Chen"}
    message = parse_message(event)
    assert message.message_id == "C1:1700000000.000200"
    assert message.thread_root == "1700000000.000100"
    assert message.display_name == "Alice Chen"
    [file] = message.files
    assert (file.file_id, file.url, file.is_image) == ("F1", "https://files.slack.com/a?dl", True)
    assert not message.is_direct


def test_top_level_message_is_its_own_thread_root() -> None:
    message = parse_message(message_event("D1", "U1", "hi", "1700000000.000300"))
    assert message.thread_root == "1700000000.000300" and message.is_direct


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "text": "no channel"},
        {"type": "message", "channel": "C1"},
        {"type": "message", "channel": "C1", "ts": "1.0", "files": "nope"},
        {"type": "message", "channel": "C1", "ts": "1.0", "files": ["nope"]},
    ],
)
def test_malformed_message_events_raise_invalid_input(event: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInputError):
        parse_message(event)


def test_slack_ts_conversion() -> None:
    assert slack_ts_to_datetime("1700000000.500000") == datetime(
        2023, 11, 14, 22, 13, 20, 500000, UTC
    )
    with pytest.raises(InvalidInputError):
        slack_ts_to_datetime("yesterday")


def test_clean_text_strips_the_bot_and_renders_entities() -> None:
    raw = "<@UBOT> ask <@U2|bob> in <#C1|general> see <https://x.io/a?b=1&amp;c=2|the page> &lt;3 <!here>"
    assert (
        clean_text(raw, "UBOT")
        == "ask @bob in #general see the page (https://x.io/a?b=1&c=2) <3 @here"
    )
    assert clean_text("<mailto:a@b.c|a@b.c>", "UBOT") == "a@b.c (mailto:a@b.c)"
    assert clean_text("<https://plain.link>", "UBOT") == "https://plain.link"
    assert clean_text("&amp;lt;", "UBOT") == "&lt;"  # one unescape only


def test_mentions_user() -> None:
    assert mentions_user("hi <@UBOT>", "UBOT") and mentions_user("<@UBOT|kefu> x", "UBOT")
    assert not mentions_user("hi <@UOTHER>", "UBOT") and not mentions_user("hi", "")


def test_parse_block_actions() -> None:
    payload = block_actions(
        "C1",
        "U1",
        "kefu_btn_0",
        "rate:good",
        "1700000000.1",
        thread_ts="1700000000.0",
        action_ts="1700000001.5",
        label="Good",
    )
    [action] = parse_block_actions(payload)
    assert action.value == "rate:good"
    assert action.message_id == "C1:action:1700000001.5"
    assert action.thread_root == "1700000000.0" and action.label == "Good"


def test_block_actions_outside_a_message_yield_nothing() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "actions": [{"action_id": "a"}],
        "view": {},
    }
    assert parse_block_actions(payload) == ()


def test_malformed_block_actions_raise_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        parse_block_actions({"type": "block_actions", "actions": []})
    payload = block_actions("C1", "U1", "x", "v", "1.0")
    payload["actions"] = [{"value": "no id"}]
    with pytest.raises(InvalidInputError):
        parse_block_actions(payload)
