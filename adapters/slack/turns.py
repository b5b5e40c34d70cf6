"""Slack messages and button clicks as kefu turns (pure translation, no I/O).

People in Slack are staff (:attr:`core.model.turn.Role.STAFF`); every turn belongs to a
thread: ``ConversationKey("slack", channel, thread_ts or ts)``. A click's value is the
button's command token (``"handoff:take:12"``, ``"feedback:thumbs_up:7"``); a value kefu does
not know becomes ``Command.UNKNOWN`` with the value as its argument.
"""

from __future__ import annotations

from adapters.slack.inbound import SlackInbound
from adapters.slack.payloads import SlackAction, clean_text, slack_ts_to_datetime
from core.model.turn import (
    Audience,
    Command,
    ConversationKey,
    Part,
    Role,
    Sender,
    TextPart,
    Turn,
    parse_command_token,
)

PLATFORM = "slack"


def action_turn(raw: SlackAction) -> Turn:
    """A button click (a desk action, a thumbs up or down, ...)."""
    command, arg = parse_command_token(raw.value) or (Command.UNKNOWN, raw.value[:64])
    return Turn(
        key=ConversationKey(PLATFORM, raw.channel, raw.thread_root),
        sender=Sender(raw.user, raw.display_name, Role.STAFF),
        message_id=raw.message_id,
        parts=(TextPart(raw.label or raw.value),),
        timestamp=slack_ts_to_datetime(raw.action_ts or raw.message_ts),
        reply_to=f"{raw.channel}:{raw.message_ts}",
        command=command,
        command_arg=arg,
    )


def build_turn(raw: SlackInbound | SlackAction, bot_user_id: str) -> Turn:
    """A message (with its fetched attachments) or a click as one turn."""
    if isinstance(raw, SlackAction):
        return action_turn(raw)
    message = raw.message
    text = clean_text(message.text, bot_user_id)
    parts: tuple[Part, ...] = ((TextPart(text),) if text else ()) + raw.attachments
    in_thread = message.thread_ts and message.thread_ts != message.ts
    return Turn(
        key=ConversationKey(PLATFORM, message.channel, message.thread_root),
        sender=Sender(message.user, message.display_name, Role.STAFF),
        message_id=message.message_id,
        parts=parts or (TextPart(""),),
        timestamp=message.timestamp,
        reply_to=f"{message.channel}:{message.thread_ts}" if in_thread else None,
        audience=Audience.PRIVATE if message.is_direct else Audience.GROUP,
    )
