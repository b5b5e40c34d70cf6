"""Commands typed or pressed on the chat page."""

from __future__ import annotations

from adapters.web.messages import parse_command
from core.model.turn import Command


def test_commands_typed_or_pressed() -> None:
    assert parse_command("/reset") == (Command.RESET, "")
    assert parse_command("/HUMAN please") == (Command.HUMAN, "")
    assert parse_command("/foo bar") == (Command.UNKNOWN, "foo")
    assert parse_command("/tmp/x.png is my file") == (None, "")
    assert parse_command("hello") == (None, "")
    assert parse_command("", "human") == (Command.HUMAN, "")
    assert parse_command("", "launch") == (Command.UNKNOWN, "launch")
