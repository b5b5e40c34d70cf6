"""Command tokens: how buttons carry a command (and its argument) through a platform."""

from __future__ import annotations

import pytest

from core.model.turn import Button, Command, command_token, parse_command_token


@pytest.mark.parametrize(
    ("command", "arg", "token"),
    [
        (Command.HUMAN, "", "human"),
        (Command.TAKE, "12", "handoff:take:12"),
        (Command.THUMBS_UP, "7", "feedback:thumbs_up:7"),
        (Command.THUMBS_DOWN, "7", "feedback:thumbs_down:7"),
    ],
)
def test_tokens_round_trip(command: Command, arg: str, token: str) -> None:
    assert command_token(command, arg) == token == Button("x", command, arg).token
    assert parse_command_token(token) == (command, arg)


@pytest.mark.parametrize(
    "token", ["feedback:thumbs_up:x", "feedback:take:1", "handoff:thumbs_up:1", "stop", "takeover"]
)
def test_bad_or_internal_tokens_are_not_commands(token: str) -> None:
    # STOP and TAKEOVER never come from a button: adapters set them from platform signals.
    assert parse_command_token(token) is None
