"""Escaping, splitting and Block Kit buttons for outgoing Slack messages."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.formatting import (
    SECTION_TEXT_LIMIT,
    escape_mrkdwn,
    parse_action_command,
    render,
    split_escaped,
)
from core.model.turn import Button


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
    messages = render(text, (Button("Yes", "confirm:yes"), Button("No", "confirm:no")))
    assert [m.blocks == () for m in messages] == [True] * (len(messages) - 1) + [False]
    section, actions = messages[-1].blocks
    assert len(section["text"]["text"]) <= SECTION_TEXT_LIMIT
    assert [e["value"] for e in actions["elements"]] == ["confirm:yes", "confirm:no"]
    assert len({e["action_id"] for e in actions["elements"]}) == 2  # Slack needs unique ids
    assert "".join(m.text for m in messages[:-1]) + section["text"]["text"] == text.replace(" ", "")


def test_buttons_without_text_still_have_fallback_text() -> None:
    [message] = render("", (Button("Talk to a person", "human"),))
    assert message.text == "Talk to a person" and message.blocks[0]["type"] == "actions"


def test_button_label_is_truncated_to_slack_limit() -> None:
    [message] = render("hi", (Button("L" * 100, "x"),))
    assert len(message.blocks[1]["elements"][0]["text"]["text"]) == 75


def test_parse_action_command_round_trips_the_button_action() -> None:
    assert parse_action_command("action:kefu_btn_1:rate:good") == ("kefu_btn_1", "rate:good")
    assert parse_action_command("action:approve:") == ("approve", "")
    assert parse_action_command("human") is None
    assert parse_action_command("action:") is None
