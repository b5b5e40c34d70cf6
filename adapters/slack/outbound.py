"""Web API output calls, translated into kefu errors: post, edit, delete, upload.

Every call goes through :func:`api_call`, so a 429 is always a
:class:`core.errors.RateLimitedError` carrying ``Retry-After`` and the outbox dispatcher
waits it out and delivers once. Every thread the bot posts into is remembered, so replies
in it are answered (see :class:`adapters.slack.threads.KnownThreads`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import errors as slack_errors
from adapters.slack.formatting import SlackOutgoing
from adapters.slack.threads import KnownThreads
from core.errors import PlatformError, StoreError
from core.model.turn import ImagePart

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def api_call(method: str, call: Awaitable[T], *, startup: bool = False) -> T:
    """Await one slack-sdk call, raising kefu errors.

    Args:
        method: Web API method name, for messages.
        call: The pending slack-sdk coroutine.
        startup: Treat a rejected token as :class:`core.errors.AuthenticationError`.

    Raises:
        RateLimitedError, PermanentDeliveryError, PlatformError, AuthenticationError.
    """
    try:
        return await call
    except SlackApiError as exc:
        translate = slack_errors.translate_startup if startup else slack_errors.translate
        raise translate(exc, method) from exc
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise PlatformError(f"Slack {method} failed: {type(exc).__name__}") from exc


class SlackWebApi:
    """The output side of the Web API, for one bot token.

    Args:
        client: slack-sdk client holding the bot token.
        threads: Threads the bot is in; updated on every post.
    """

    def __init__(self, client: AsyncWebClient, threads: KnownThreads) -> None:
        self.client = client
        self._threads = threads

    async def post(self, channel: str, piece: SlackOutgoing, thread_ts: str | None) -> str:
        """``chat.postMessage``; returns the new message's ts."""
        kwargs: dict[str, Any] = {"channel": channel, "text": piece.text, "thread_ts": thread_ts}
        if piece.blocks:
            kwargs["blocks"] = list(piece.blocks)
        if thread_ts:  # known to every replica before anything is posted into it
            await self._threads.join(channel, thread_ts)
        result = await api_call("chat.postMessage", self.client.chat_postMessage(**kwargs))
        ts = str(result.get("ts") or "")
        if not thread_ts:
            await self._join_new_thread(channel, ts)
        return ts

    async def _join_new_thread(self, channel: str, ts: str) -> None:
        # The message is already posted: a store failure here must not fail the delivery
        # (it would be posted again). The thread is then known to this process only, and
        # on other replicas after the next mention in it.
        try:
            await self._threads.join(channel, ts)
        except StoreError as exc:
            logger.warning("slack thread %s:%s known to this replica only: %s", channel, ts, exc)
            self._threads.add(channel, ts)

    async def update(self, channel: str, ts: str, piece: SlackOutgoing) -> None:
        """``chat.update``; an empty ``blocks`` list clears a preview's blocks."""
        call = self.client.chat_update(
            channel=channel, ts=ts, text=piece.text, blocks=list(piece.blocks)
        )
        await api_call("chat.update", call)

    async def delete(self, channel: str, ts: str) -> None:
        await api_call("chat.delete", self.client.chat_delete(channel=channel, ts=ts))

    async def finish_draft(
        self, channel: str, draft_ts: str, piece: SlackOutgoing, thread_ts: str | None
    ) -> str:
        """Edit a streamed draft into ``piece``; post anew when Slack refuses the edit.

        Returns:
            The ts of the message now holding ``piece``.
        """
        try:
            await self.update(channel, draft_ts, piece)
        except PlatformError as exc:
            cause = exc.__cause__
            if isinstance(cause, SlackApiError) and (
                slack_errors.error_code(cause) in slack_errors.UNEDITABLE_ERRORS
            ):
                return await self.post(channel, piece, thread_ts)
            raise
        return draft_ts

    async def upload_image(
        self, channel: str, thread_ts: str | None, image: ImagePart, title: str
    ) -> str:
        """Upload through files.getUploadURLExternal + completeUploadExternal; returns the file id."""
        extension = "png" if image.mime == "image/png" else "jpg"
        if thread_ts:
            await self._threads.join(channel, thread_ts)
        call = self.client.files_upload_v2(
            content=image.data,
            filename=f"{image.sha256[:12]}.{extension}",
            title=title,
            channel=channel,
            thread_ts=thread_ts,
        )
        result = await api_call("files.completeUploadExternal", call)
        files = result.get("files")
        if isinstance(files, list) and files and isinstance(files[0], dict):
            return str(files[0].get("id", ""))
        return ""

    async def post_preview(self, channel: str, text: str, thread_ts: str | None) -> str:
        return await self.post(channel, SlackOutgoing(text), thread_ts)

    async def update_preview(self, channel: str, ts: str, text: str) -> None:
        await self.update(channel, ts, SlackOutgoing(text))

    # -- native streaming and the assistant view ----------------------------------------

    async def start_stream(
        self, channel: str, thread_ts: str, markdown: str, recipient: StreamRecipient | None
    ) -> str:
        """``chat.startStream``: a new streamed reply in ``thread_ts``; returns its ts."""
        kwargs: dict[str, Any] = {"channel": channel, "thread_ts": thread_ts}
        if markdown:
            kwargs["markdown_text"] = markdown
        if recipient is not None:
            kwargs["recipient_user_id"] = recipient.user_id
            kwargs["recipient_team_id"] = recipient.team_id
        await self._threads.join(channel, thread_ts)
        result = await api_call("chat.startStream", self.client.chat_startStream(**kwargs))
        return str(result.get("ts") or "")

    async def append_stream(self, channel: str, ts: str, markdown: str) -> None:
        """``chat.appendStream``: add ``markdown`` to the streamed reply."""
        call = self.client.chat_appendStream(channel=channel, ts=ts, markdown_text=markdown)
        await api_call("chat.appendStream", call)

    async def stop_stream(
        self, channel: str, ts: str, markdown: str = "", blocks: Sequence[dict[str, Any]] = ()
    ) -> None:
        """``chat.stopStream``: end the streamed reply, appending ``markdown`` and ``blocks``."""
        kwargs: dict[str, Any] = {"channel": channel, "ts": ts}
        if markdown:
            kwargs["markdown_text"] = markdown
        if blocks:
            kwargs["blocks"] = list(blocks)
        await api_call("chat.stopStream", self.client.chat_stopStream(**kwargs))

    async def set_status(
        self, channel: str, thread_ts: str, status: str, loading: Sequence[str] = ()
    ) -> None:
        """``assistant.threads.setStatus`` ("is thinking…"); an empty status clears it."""
        kwargs: dict[str, Any] = {"channel_id": channel, "thread_ts": thread_ts, "status": status}
        if loading and status:
            kwargs["loading_messages"] = list(loading)
        call = self.client.assistant_threads_setStatus(**kwargs)
        await api_call("assistant.threads.setStatus", call)

    async def suggest_prompts(
        self, channel: str, thread_ts: str, title: str, prompts: Sequence[tuple[str, str]]
    ) -> None:
        """``assistant.threads.setSuggestedPrompts``: (title, message) pairs, at most 4."""
        call = self.client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=thread_ts, title=title or None,
            prompts=[{"title": t, "message": m} for t, m in prompts[:4]],
        )  # fmt: skip
        await api_call("assistant.threads.setSuggestedPrompts", call)


@dataclass(frozen=True, slots=True)
class StreamRecipient:
    """Who a streamed reply in a channel is for (channel streams need both ids)."""

    user_id: str
    team_id: str
