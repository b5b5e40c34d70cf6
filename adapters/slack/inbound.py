"""Inbound Slack traffic: bolt listeners that turn events into durable turns.

Listeners run with ``process_before_response=True``: bolt answers Slack (HTTP 200 or the
Socket Mode ack) only after the listener returns, and the listener returns only after
``inbox.put`` has made the turn durable (held, when some of its files are still downloading:
:mod:`adapters.slack.deferred`). A failing ``put`` makes bolt answer 503 (or not
ack in Socket Mode), so Slack retries; a retry of a stored message is a duplicate in the inbox and is
acknowledged without a second turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from adapters.slack.deferred import DeferredFiles
from adapters.slack.files import SlackFileFetcher
from adapters.slack.payloads import (
    ANSWERABLE_SUBTYPES,
    SlackAction,
    SlackMessage,
    mentions_user,
    parse_block_actions,
    parse_message,
)
from adapters.slack.threads import KnownThreads
from core.errors import KefuError
from core.model.turn import Part, Turn
from core.ports import InboxPort, IngestResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SlackInbound:
    """What :meth:`SlackAdapter.to_turn` translates: a message plus its fetched attachments.

    Attributes:
        message: The parsed event.
        attachments: Image parts and notes for its files, already fetched (in file order).
    """

    message: SlackMessage
    attachments: tuple[Part, ...] = ()


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in the workspace (from ``auth.test``)."""

    user_id: str
    bot_id: str
    team_id: str


async def should_answer(message: SlackMessage, bot: BotIdentity, threads: KnownThreads) -> bool:
    """Whether a message is for the bot: a DM, a mention, or a reply in a thread it is in
    (known to any replica).

    Bot messages, the bot's own messages and edits/deletions/joins are never answered.

    Raises:
        StoreError: the shared threads could not be read (Slack delivers the event again).
    """
    if message.subtype not in ANSWERABLE_SUBTYPES or message.bot_id or not message.user:
        return False
    if message.user == bot.user_id:
        return False
    if message.is_direct:
        return True
    if message.event_type == "app_mention" or mentions_user(message.text, bot.user_id):
        return True
    return bool(message.thread_ts) and await threads.knows(message.channel, message.thread_ts)


class SlackInboundHandler:
    """Registers bolt listeners and feeds the inbox.

    Args:
        inbox: Durable inbox.
        fetcher: Attachment fetcher.
        bot: Bot identity (resolved by ``auth.test`` before any event is handled).
        threads: Threads the bot is in.
        to_turn: Pure translation from :class:`SlackInbound` / :class:`SlackAction` to a turn.
        ack_budget_s: Time allowed for attachments before the turn is stored anyway.
        on_thread_started: Listener for ``assistant_thread_started`` (the assistant view).
        deferred: Where a turn with files slower than the budget is stored held until they
            are in (None: those files become notes).
    """

    def __init__(
        self,
        inbox: InboxPort,
        fetcher: SlackFileFetcher,
        bot: BotIdentity,
        threads: KnownThreads,
        to_turn: Callable[[SlackInbound | SlackAction], Turn],
        ack_budget_s: float,
        on_thread_started: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None,
        deferred: DeferredFiles | None = None,
    ) -> None:
        self._inbox = inbox
        self._deferred = deferred
        self._on_thread_started = on_thread_started
        self._fetcher = fetcher
        self._bot = bot
        self._threads = threads
        self._to_turn = to_turn
        self._budget = ack_budget_s
        self.ingested = 0
        self.duplicates = 0

    def register(self, app: AsyncApp) -> None:
        """Attach the listeners; the catch-all comes last so unknown events still get a 200."""
        app.event("message")(self.on_message_event)
        app.event("app_mention")(self.on_message_event)
        app.action(re.compile(".*"))(self.on_block_action)
        if self._on_thread_started is not None:
            app.event("assistant_thread_started")(self._on_thread_started)
        app.event(re.compile(".*"))(self.on_other_event)
        app.error(self.on_error)

    async def on_message_event(self, body: Mapping[str, Any]) -> None:
        """Store one DM, mention or thread reply as a turn; ignore everything else."""
        deadline = asyncio.get_running_loop().time() + self._budget
        event = body.get("event")
        if not isinstance(event, Mapping):
            return
        message = parse_message(event)
        if not await should_answer(message, self._bot, self._threads):
            return
        await self._threads.join(message.channel, message.thread_root)
        if not message.files:
            await self._put(self._to_turn(SlackInbound(message)))
            return
        keep_late = self._deferred is not None
        collected = await self._fetcher.collect(message.files, deadline, keep_late=keep_late)
        if self._deferred is None or not collected.late:
            await self._put(self._to_turn(SlackInbound(message, collected.parts)))
            return
        try:
            turn = self._to_turn(SlackInbound(message, collected.parts))
        except BaseException:
            collected.cancel()
            raise
        self._count(await self._deferred.put(turn, collected))

    async def on_block_action(self, body: Mapping[str, Any], ack: Callable[..., Any]) -> None:
        """Store each button click as a turn (its value is the button's command), then ack."""
        for action in parse_block_actions(body):
            if action.user and action.user != self._bot.user_id:
                await self._threads.join(action.channel, action.thread_root)
                await self._put(self._to_turn(action))
        await ack()

    async def on_other_event(self, body: Mapping[str, Any]) -> None:
        """Events kefu does not use are acknowledged so Slack does not retry them."""
        event = body.get("event")
        event_type = event.get("type") if isinstance(event, Mapping) else None
        logger.debug("slack event %s ignored", event_type)

    async def on_error(self, error: Exception) -> BoltResponse:
        """Answer a failed listener with the error's status (never 2xx), so Slack retries.

        StoreError → 503, InvalidInputError → 400, anything unexpected → 500.
        """
        if isinstance(error, KefuError):
            logger.error("slack event not stored: %s: %s", error.code, error)
            return BoltResponse(status=error.http_status, body=json.dumps({"error": error.code}))
        logger.error("slack event not stored: unexpected error", exc_info=error)
        return BoltResponse(status=500, body=json.dumps({"error": "internal_error"}))

    async def _put(self, turn: Turn) -> None:
        self._count(await self._inbox.put(turn))

    def _count(self, result: IngestResult) -> None:
        if result.duplicate:
            self.duplicates += 1
        else:
            self.ingested += 1
