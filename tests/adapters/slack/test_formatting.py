"""Escaping, splitting and Block Kit buttons for outgoing Slack messages."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.formatting import (
    SECTION_TEXT_LIMIT,
    escape_mrkdwn,
    render,
    split_escaped,
)
from core.model.turn import Button, Command, parse_command_token


def test_escape_neutralises_mentions_and_links() -> None:
    assert escape_mrkdwn("<!channel> <@U1> a&b") == "&lt;!channel&gt; &lt;@U1&gt; a&amp;b"


def test_split_prefers_paragraphs_then_lines_then_words() -> None:
    text = "a" * 60 + "\n\n" + "b" * 30 + "\n" + "c" * 30
    assert split_escaped(text, 100) == ["a" * 60, "b" * 30 + "\n" + "c" * 30]
    assert split_escaped("word " * 30, 40)[0] == ("word " * 8).strip()


def test_split_never_cuts_an_entity() -> None:
    text = "x" * 97 + "&amp;" + "y" * 10
    pieces = split_escaped(text, 100)
    assert pieces == ["x" * 97, "&amp;" + "y" * 10]


def test_empty_text_renders_nothing() -> None:
    assert render("") == [] and render("   ") == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab <>&\n汉")), max_size=900), st.integers(20, 300))
def test_split_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    escaped = escape_mrkdwn(text)
    pieces = split_escaped(escaped, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    # Only whitespace at the cut points may disappear; entities survive intact.
    joined = "".join(pieces)
    assert "".join(joined.split()) == "".join(escaped.split())
    for piece in pieces:
        assert "&" not in re.sub(r"&(amp|lt|gt);", "", piece)  # no entity was cut in half
        assert "<" not in piece and ">" not in piece


def test_buttons_go_on_the_last_piece_within_the_section_limit() -> None:
    text = "z" * 3500 + " " + "q" * 3500
    messages = render(
        text, (Button("Take", Command.TAKE, "1"), Button("Resolve", Command.RESOLVE, "1"))
    )
    assert [m.blocks == () for m in messages] == [True] * (len(messages) - 1) + [False]
    section, actions = messages[-1].blocks
    assert len(section["text"]["text"]) <= SECTION_TEXT_LIMIT
    assert [e["value"] for e in actions["elements"]] == ["handoff:take:1", "handoff:resolve:1"]
    assert len({e["action_id"] for e in actions["elements"]}) == 2  # Slack needs unique ids
    assert "".join(m.text for m in messages[:-1]) + section["text"]["text"] == text.replace(" ", "")


def test_buttons_without_text_still_have_fallback_text() -> None:
    [message] = render("", (Button("Talk to a person", Command.HUMAN),))
    assert message.text == "Talk to a person" and message.blocks[0]["type"] == "actions"


def test_button_label_is_truncated_to_slack_limit() -> None:
    [message] = render("hi", (Button("L" * 100, Command.HELP),))
    assert len(message.blocks[1]["elements"][0]["text"]["text"]) == 75


def test_a_button_value_is_its_command_token() -> None:
    [message] = render("pick", (Button("Take", Command.TAKE, "7"),))
    values = [e["value"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert values == ["handoff:take:7"]
    assert parse_command_token(values[0]) == (Command.TAKE, "7")
