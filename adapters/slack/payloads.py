"""Typed views of the Slack payloads kefu reads, parsed once at the edge.

Bolt hands listeners plain dicts; everything past this module works with the frozen
dataclasses below, so a malformed payload fails here with a typed error instead of a
``KeyError`` deep inside the adapter.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidInputError

# Subtypes that still carry a person's new message; every other subtype (message_changed,
# message_deleted, bot_message, channel_join, ...) is ignored.
ANSWERABLE_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "me_message"})

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


@dataclass(frozen=True, slots=True)
class SlackFile:
    """One file attached to a message (``event.files[]``)."""

    file_id: str
    name: str
    mimetype: str
    size: int
    url: str  # url_private_download, else url_private; empty when Slack withholds it
    mode: str = ""  # "hosted", "tombstone", "hidden_by_limit", ...

    @property
    def is_image(self) -> bool:
        return self.mimetype.startswith("image/")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A ``message`` or ``app_mention`` event.

    Attributes:
        event_type: ``"message"`` or ``"app_mention"``.
        channel: Channel id (``C…``, ``G…`` or ``D…`` for DMs).
        channel_type: ``im``, ``mpim``, ``channel``, ``group`` or ``""`` (app_mention has none).
        user: Author's user id; empty for bot messages.
        text: Raw Slack text (mrkdwn, entities escaped).
        ts: Message timestamp, unique within the channel.
        thread_ts: Parent timestamp when the message is in a thread.
        subtype: Message subtype, ``""`` for a plain message.
        bot_id: Set when a bot or app wrote it.
        files: Attached files.
        display_name: Author name when Slack includes ``user_profile``.
    """

    event_type: str
    channel: str
    channel_type: str
    user: str
    text: str
    ts: str
    thread_ts: str = ""
    subtype: str = ""
    bot_id: str = ""
    files: tuple[SlackFile, ...] = ()
    display_name: str = ""

    @property
    def message_id(self) -> str:
        """The dedupe key: ``message`` and ``app_mention`` for one message share it."""
        return f"{self.channel}:{self.ts}"

    @property
    def thread_root(self) -> str:
        """The thread the answer goes to: the parent, or this message as a new thread root."""
        return self.thread_ts or self.ts

    @property
    def is_direct(self) -> bool:
        return self.channel_type == "im" or self.channel.startswith("D")

    @property
    def timestamp(self) -> datetime:
        return slack_ts_to_datetime(self.ts)


@dataclass(frozen=True, slots=True)
class SlackAction:
    """One element of a ``block_actions`` payload (a button click).

    Attributes:
        channel: Channel of the message holding the button.
        message_ts: That message's ts.
        thread_ts: Its thread, if it is in one.
        user: Who clicked.
        display_name: Their user name, if given.
        action_id: The element's ``action_id``.
        value: The element's ``value`` (may be empty).
        label: The button text, for transcripts.
        action_ts: When it was clicked; the dedupe key.
    """

    channel: str
    message_ts: str
    thread_ts: str
    user: str
    display_name: str
    action_id: str
    value: str
    label: str
    action_ts: str

    @property
    def message_id(self) -> str:
        return f"{self.channel}:action:{self.action_ts}"

    @property
    def thread_root(self) -> str:
        return self.thread_ts or self.message_ts


def slack_ts_to_datetime(ts: str) -> datetime:
    """Convert a Slack ``ts`` (``"1700000000.000100"``) to an aware UTC datetime.

    Raises:
        InvalidInputError: ``ts`` is not a Slack timestamp.
    """
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"not a Slack timestamp: {ts!r}") from exc


def _str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


def _parse_file(raw: Any) -> SlackFile:
    if not isinstance(raw, Mapping):
        raise InvalidInputError("file entry is not an object")
    size = raw.get("size")
    return SlackFile(
        file_id=_str(raw, "id"),
        name=_str(raw, "name") or _str(raw, "title") or _str(raw, "id"),
        mimetype=_str(raw, "mimetype"),
        size=size if isinstance(size, int) and size >= 0 else 0,
        url=_str(raw, "url_private_download") or _str(raw, "url_private"),
        mode=_str(raw, "mode"),
    )


def parse_message(event: Mapping[str, Any]) -> SlackMessage:
    """Parse a ``message`` / ``app_mention`` event.

    Raises:
        InvalidInputError: the event lacks a channel or ts, or its files are malformed.
    """
    channel, ts = _str(event, "channel"), _str(event, "ts")
    if not channel or not ts:
        raise InvalidInputError("Slack message event without channel or ts")
    raw_files = event.get("files") or []
    if not isinstance(raw_files, list):
        raise InvalidInputError("Slack message event has a malformed files list")
    profile = event.get("user_profile")
    display = ""
    if isinstance(profile, Mapping):
        display = _str(profile, "display_name") or _str(profile, "real_name")
    return SlackMessage(
        event_type=_str(event, "type"),
        channel=channel,
        channel_type=_str(event, "channel_type"),
        user=_str(event, "user"),
        text=_str(event, "text"),
        ts=ts,
        thread_ts=_str(event, "thread_ts"),
        subtype=_str(event, "subtype"),
        bot_id=_str(event, "bot_id"),
        files=tuple(_parse_file(f) for f in raw_files),
        display_name=display,
    )


def parse_block_actions(body: Mapping[str, Any]) -> tuple[SlackAction, ...]:
    """Parse a ``block_actions`` payload into its actions (usually exactly one).

    Actions outside a channel message (home tab, modals) yield nothing.

    Raises:
        InvalidInputError: the payload has no user or no actions list.
    """
    user = body.get("user")
    actions = body.get("actions")
    if not isinstance(user, Mapping) or not isinstance(actions, list):
        raise InvalidInputError("block_actions payload without user or actions")
    channel_obj = body.get("channel")
    container = body.get("container") if isinstance(body.get("container"), Mapping) else {}
    message = body.get("message") if isinstance(body.get("message"), Mapping) else {}
    channel = _str(channel_obj, "id") if isinstance(channel_obj, Mapping) else ""
    channel = channel or _str(container, "channel_id")  # type: ignore[arg-type]
    message_ts = _str(message, "ts") or _str(container, "message_ts")  # type: ignore[arg-type]
    if not channel or not message_ts:
        return ()
    thread_ts = _str(message, "thread_ts") or _str(container, "thread_ts")  # type: ignore[arg-type]
    parsed: list[SlackAction] = []
    for action in actions:
        if not isinstance(action, Mapping) or not _str(action, "action_id"):
            raise InvalidInputError("block action without action_id")
        text_obj = action.get("text")
        parsed.append(
            SlackAction(
                channel=channel,
                message_ts=message_ts,
                thread_ts=thread_ts,
                user=_str(user, "id"),
                display_name=_str(user, "name") or _str(user, "username"),
                action_id=_str(action, "action_id"),
                value=_str(action, "value"),
                label=_str(text_obj, "text") if isinstance(text_obj, Mapping) else "",
                action_ts=_str(action, "action_ts") or _str(body, "trigger_id"),
            )
        )
    return tuple(parsed)


def _render_entity(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("@"):
        return f"@{label or target[1:]}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        return f"@{label or target[1:].split('^')[0]}"
    return f"{label} ({target})" if label and label != target else target


def clean_text(text: str, bot_user_id: str) -> str:
    """Turn Slack mrkdwn into the plain text the model reads.

    Removes mentions of the bot itself, renders other mentions, channels and links as
    readable text, and unescapes ``&amp;``, ``&lt;``, ``&gt;``.
    """
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = _LINK.sub(_render_entity, text)
    text = html.unescape(text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def mentions_user(text: str, user_id: str) -> bool:
    """True if ``text`` contains a ``<@user_id>`` mention."""
    return bool(user_id) and re.search(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>", text) is not None
