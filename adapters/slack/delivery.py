"""Outbox messages into Slack threads: pieces, feedback buttons, images, the streamed draft.

A message may need several Slack messages (pieces of ``max_message_chars``) and uploads. What
already went out is remembered per outbox message, in this process and, before each further
piece, in the outbox (``parts_sent``), so a retry, also one after a kill, resumes after it
instead of repeating it. Before each post and upload the outbox is asked whether the row is
still this attempt's (``ensure_held``): a replica starved past its lease, whose row another
replica took over, stops instead of posting the same piece twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.slack.formatting import SlackOutgoing, feedback_block, trailing_blocks, with_blocks
from adapters.slack.native import NATIVE_PREFIX, NativeStreams
from adapters.slack.orphans import PreviewLedger
from adapters.slack.outbound import SlackWebApi
from adapters.slack.settings import SlackSettings
from core.errors import LeaseLostError
from core.model.turn import Reply, ReplyKind
from core.ports import DeliveryReceipt, OutboundMessage


@dataclass(slots=True)
class _Progress:
    """What already went out for one outbox message, so a retry does not repeat it."""

    message_ts: list[str] = field(default_factory=list)
    images_done: int = 0


class SlackDelivery:
    """Delivers outbox messages (see :meth:`adapters.slack.adapter.SlackAdapter.deliver`).

    Args:
        settings: Slack settings (feedback buttons).
        native: The native streams in flight (a draft may be one of them).
        previews: Posted previews, forgotten once their answer is delivered.
        render: A reply as Slack messages (the adapter's ``to_platform``).
    """

    def __init__(
        self,
        settings: SlackSettings,
        native: NativeStreams,
        previews: PreviewLedger,
        render: Callable[[Reply], list[SlackOutgoing]],
    ) -> None:
        self._settings = settings
        self._native = native
        self._previews = previews
        self._render = render
        self._progress: dict[int, _Progress] = {}

    async def deliver(self, message: OutboundMessage, api: SlackWebApi) -> DeliveryReceipt:
        """Send ``message``; raises what :class:`SlackWebApi` raises, and
        :class:`LeaseLostError` when the row is no longer held (nothing more is sent)."""
        try:
            return await self._deliver(message, api)
        except LeaseLostError:
            # The outbox, not this memory, says where the row's next holder resumes.
            self._progress.pop(message.outbox_id, None)
            raise

    async def _deliver(self, message: OutboundMessage, api: SlackWebApi) -> DeliveryReceipt:
        reply = message.reply
        channel, thread_ts = reply.key.chat_id, reply.key.thread_id or None
        progress = self._progress.setdefault(message.outbox_id, _Progress())
        if len(message.sent) > len(progress.message_ts):  # recorded by a killed process
            progress.message_ts[:] = [ref.rpartition(":")[2] for ref in message.sent]
        pieces = self._render(reply)
        feedback = self._feedback_for(message)
        draft = message.stream_ref
        for index, piece in enumerate(pieces):
            if index < len(progress.message_ts):
                continue
            full = with_blocks(piece, feedback if index == len(pieces) - 1 else ())
            first_draft = draft if index == 0 else None
            if message.progress is not None:
                await message.progress.ensure_held()
            progress.message_ts.append(
                await self._send_piece(api, channel, thread_ts, full, first_draft)
            )
            if message.progress is not None and index < len(pieces) - 1:
                # Recorded before the next piece: an attempt after a kill resumes after it.
                await message.progress.parts_sent(
                    tuple(f"{channel}:{ts}" for ts in progress.message_ts)
                )
        for image in reply.images[progress.images_done :]:
            if message.progress is not None:
                await message.progress.ensure_held()
            await api.upload_image(channel, thread_ts, image, image.caption or "image")
            progress.images_done += 1
        if draft and not pieces:
            # Nothing to say after all: remove the half-written preview.
            await api.delete(channel, ts_of(draft) or "")
        self._progress.pop(message.outbox_id, None)
        if draft and reply.reply_to:
            await self._previews.forget(reply.reply_to)
        return DeliveryReceipt(tuple(f"{channel}:{ts}" for ts in progress.message_ts))

    def _feedback_for(self, message: OutboundMessage) -> tuple[dict[str, Any], ...]:
        """Thumbs up / down under the bot's answers (clicks name the answered turn)."""
        if not self._settings.feedback_buttons or message.turn_id is None:
            return ()
        if message.reply.kind is not ReplyKind.ANSWER or not message.final:
            return ()
        return (feedback_block(message.turn_id),)

    async def _send_piece(
        self,
        api: SlackWebApi,
        channel: str,
        thread_ts: str | None,
        piece: SlackOutgoing,
        draft: str | None,
    ) -> str:
        """Post ``piece``, or turn the streamed draft into it (native or edited)."""
        if draft and draft.startswith(NATIVE_PREFIX):
            return await self._native.finish(api, channel, draft, piece, trailing_blocks(piece))
        draft_ts = ts_of(draft)
        if draft_ts:
            return await api.finish_draft(channel, draft_ts, piece, thread_ts)
        return await api.post(channel, piece, thread_ts)


def ts_of(ref: str | None) -> str | None:
    """The ``ts`` part of a ``"{channel}:{ts}"`` reference (a bare ts is accepted too)."""
    if not ref:
        return None
    return ref.rpartition(":")[2]
