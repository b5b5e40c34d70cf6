"""Outgoing Slack messages: mrkdwn escaping, splitting under the size limit, Block Kit buttons.

Model output is untrusted: ``&``, ``<`` and ``>`` are escaped so it cannot produce
``<!channel>`` pings, user mentions or disguised links. Kefu buttons become one actions block
on the last message; a button's value is its :attr:`core.model.turn.Button.token`, so a
click comes back as a turn carrying the button's command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.model.turn import Button

SLACK_SAFE_CHARS = 3900
# A section block's text is capped at 3000 characters by Slack.
SECTION_TEXT_LIMIT = 3000
BUTTON_LABEL_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
MAX_BUTTONS = 25
KEFU_ACTION_PREFIX = "kefu_btn_"


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
