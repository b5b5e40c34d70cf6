"""Outgoing Slack messages: mrkdwn escaping, splitting under the size limit, Block Kit buttons.

Model output is untrusted: ``&``, ``<`` and ``>`` are escaped so it cannot produce
``<!channel>`` pings, user mentions or disguised links. Kefu buttons become one actions block
on the last message; a button's value is its :attr:`core.model.turn.Button.token`, so a
click comes back as a turn carrying the button's command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.model.turn import Button, Command, command_token

SLACK_SAFE_CHARS = 3900
# A section block's text is capped at 3000 characters by Slack.
SECTION_TEXT_LIMIT = 3000
BUTTON_LABEL_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
MAX_BUTTONS = 25
KEFU_ACTION_PREFIX = "kefu_btn_"
FEEDBACK_ACTION_ID = "kefu_feedback"


@dataclass(frozen=True, slots=True)
class SlackOutgoing:
    """One ``chat.postMessage`` / ``chat.update`` body.

    Attributes:
        text: Escaped mrkdwn; the notification fallback when ``blocks`` is set.
        blocks: Block Kit blocks (JSON-ready), empty for plain text.
    """

    text: str
    blocks: tuple[dict[str, Any], ...] = ()


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _safe_cut(text: str, limit: int) -> int:
    """Pick where to cut ``text`` (at most ``limit``): a paragraph, line or word boundary."""
    window = text[:limit]
    floor = limit // 2  # never produce tiny pieces just to end on a boundary
    for separator in ("\n\n", "\n", " "):
        position = window.rfind(separator)
        if position >= floor:
            return position + len(separator)
    cut = limit
    # Do not cut inside an escape entity such as "&amp;".
    amp = window.rfind("&", max(0, limit - 5))
    if amp != -1 and ";" not in window[amp:]:
        cut = amp
    return max(cut, 1)


def split_escaped(text: str, limit: int = SLACK_SAFE_CHARS) -> list[str]:
    """Split already-escaped text into pieces of at most ``limit`` characters.

    Prefers paragraph, then line, then word boundaries, and never splits an entity.
    Returns ``[]`` for empty text.
    """
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _safe_cut(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip("\n")
    if rest.strip():
        pieces.append(rest)
    return pieces


def button_element(index: int, button: Button) -> dict[str, Any]:
    """A Block Kit button whose value is the kefu button's token."""
    return {
        "type": "button",
        "action_id": f"{KEFU_ACTION_PREFIX}{index}",
        "text": {"type": "plain_text", "text": button.label[:BUTTON_LABEL_LIMIT], "emoji": True},
        "value": button.token[:BUTTON_VALUE_LIMIT],
    }


def with_buttons(text: str, buttons: tuple[Button, ...]) -> SlackOutgoing:
    """A message whose blocks show ``text`` (already escaped) followed by an actions block."""
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    elements = [button_element(i, b) for i, b in enumerate(buttons[:MAX_BUTTONS])]
    blocks.append({"type": "actions", "block_id": "kefu_actions", "elements": elements})
    fallback = text or " · ".join(b.label for b in buttons[:MAX_BUTTONS])
    return SlackOutgoing(fallback, tuple(blocks))


def render(
    text: str, buttons: tuple[Button, ...] = (), limit: int = SLACK_SAFE_CHARS
) -> list[SlackOutgoing]:
    """Escape and split a reply's text; attach buttons to the last piece.

    Args:
        text: Plain text from the core.
        buttons: Buttons to show under the last piece.
        limit: Longest piece.

    Returns:
        The messages to send, in order (empty when there is neither text nor buttons).
    """
    pieces = split_escaped(escape_mrkdwn(text), limit)
    if not buttons:
        return [SlackOutgoing(p) for p in pieces]
    last = pieces.pop() if pieces else ""
    tail = split_escaped(last, SECTION_TEXT_LIMIT) or [""]
    messages = [SlackOutgoing(p) for p in pieces + tail[:-1]]
    messages.append(with_buttons(tail[-1], buttons))
    return messages


def feedback_block(turn_id: int) -> dict[str, Any]:
    """Slack's native thumbs up / down under an answer; a click names the answered turn."""

    def button(emoji: str, label: str, command: Command) -> dict[str, Any]:
        return {
            "text": {"type": "plain_text", "text": emoji},
            "accessibility_label": label,
            "value": command_token(command, str(turn_id)),
        }

    element = {
        "type": "feedback_buttons",
        "action_id": FEEDBACK_ACTION_ID,
        "positive_button": button("👍", "Good answer", Command.THUMBS_UP),
        "negative_button": button("👎", "Bad answer", Command.THUMBS_DOWN),
    }
    return {
        "type": "context_actions",
        "block_id": f"kefu_feedback_{turn_id}",
        "elements": [element],
    }


def with_blocks(piece: SlackOutgoing, extra: tuple[dict[str, Any], ...]) -> SlackOutgoing:
    """``piece`` with ``extra`` blocks under it (its text moves into section blocks)."""
    if not extra:
        return piece
    blocks = list(piece.blocks)
    if not blocks and piece.text:
        chunks = split_escaped(piece.text, SECTION_TEXT_LIMIT)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]
    return SlackOutgoing(piece.text, (*blocks, *extra))


def trailing_blocks(piece: SlackOutgoing) -> tuple[dict[str, Any], ...]:
    """The blocks of ``piece`` other than its text sections (buttons, feedback)."""
    return tuple(b for b in piece.blocks if b.get("type") != "section")
