"""The Slack staff desk: one thread per handoff in the staff channel.

The thread's first message says who the customer is, why they were handed over and
what they want, with Take / Resolve / Return-to-bot buttons; then come the transcript,
the customer's photos (re-uploaded) and the bot's withheld draft. Customer messages
during the handoff are posted into the thread; staff replies there are relayed back by
:mod:`core.handoff.relay`. Everything the customer wrote is escaped: it cannot ping
``@channel`` or disguise links.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from adapters.slack.formatting import escape_mrkdwn, split_escaped, with_buttons
from adapters.slack.settings import SlackSettings
from adapters.slack.threads import KnownThreads
from config.handoff import HandoffSettings
from core.errors import ConfigError, DeskUnavailableError, PermanentDeliveryError
from core.handoff import summary as texts
from core.handoff.desk import HandoffBrief, Progress, RelayedMessage
from core.model.handoff import HandoffRecord
from core.model.turn import ConversationKey, ImagePart, Role

PIECE_CHARS = 3500  # under Slack's ~4000-character display limit per message
PARENT_CHARS = 2900  # a section block holds at most 3000 characters

Step = Callable[[], Awaitable[str]]


class SlackPoster(Protocol):
    """What the desk needs from the Slack adapter (:class:`adapters.slack.adapter.SlackAdapter`)."""

    name: str
    threads: KnownThreads

    async def post_message(
        self,
        channel: str,
        text: str,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        *,
        raw_mrkdwn: bool = False,
    ) -> str: ...

    async def upload_image(
        self, channel: str, thread_ts: str | None, image: ImagePart, title: str = "image"
    ) -> str: ...


async def run_steps(steps: Sequence[Step], progress: Progress) -> None:
    """Run the steps not done yet, recording each as soon as it succeeds."""
    for step in steps[progress.steps_done :]:
        progress.platform_ids.append(await step())
        progress.steps_done += 1


class SlackDesk:
    """Opens and feeds handoff threads in one staff channel.

    Args:
        poster: The Slack adapter (or anything with its post/upload methods and threads).
        channel: Staff channel id.
        ping_mention: Trusted mrkdwn mention put in reminders, e.g. ``<!here>``.
    """

    target = "slack"

    def __init__(self, poster: SlackPoster, channel: str, ping_mention: str = "") -> None:
        self.poster = poster
        self.channel = channel
        self.ping_mention = ping_mention

    async def start(self, active_refs: Sequence[str]) -> None:
        """Re-join the threads of active handoffs, so replies there are relayed."""
        for ref in active_refs:
            self.poster.threads.add(*split_ref(ref))

    async def stop(self) -> None:
        """Nothing of its own to close: the Slack adapter owns the connection."""

    def staff_ref_of(self, key: ConversationKey) -> str | None:
        """A Slack thread's ref, ``"C123|<thread_ts>"`` (a handoff's when the store has it)."""
        if key.platform != self.poster.name or not key.thread_id:
            return None
        return f"{key.chat_id}|{key.thread_id}"

    async def open(self, brief: HandoffBrief, progress: Progress) -> str:
        """Post the thread's first message with the buttons; returns ``"C123|<ts>"``."""
        body = escape_mrkdwn(texts.parent_text(brief.record, brief.summary))[:PARENT_CHARS]
        outgoing = with_buttons(body, texts.buttons(brief.record.id))
        ts = await self.poster.post_message(
            self.channel, outgoing.text, blocks=list(outgoing.blocks), raw_mrkdwn=True
        )
        return f"{self.channel}|{ts}"

    async def details(self, brief: HandoffBrief, staff_ref: str, progress: Progress) -> None:
        """Transcript, the customer's photos, then the withheld draft, into the thread."""
        channel, thread_ts = split_ref(staff_ref)
        steps: list[Step] = [
            self._text(channel, thread_ts, piece)
            for piece in self._pieces(texts.transcript_text(brief.transcript))
        ]
        photos = [i for e in brief.transcript if e.role is Role.CUSTOMER for i in e.images]
        steps += [self._upload(channel, thread_ts, image) for image in photos]
        if brief.draft:
            steps += [
                self._text(channel, thread_ts, piece)
                for piece in self._pieces(texts.draft_text(brief.draft))
            ]
        await run_steps(steps, progress)

    async def relay(
        self, record: HandoffRecord, message: RelayedMessage, progress: Progress
    ) -> None:
        """A customer message and its photos, into the handoff's thread."""
        channel, thread_ts = split_ref(record.staff_ref or "")
        body = texts.relay_text(message.customer, message.text, len(message.images))
        steps = [self._text(channel, thread_ts, piece) for piece in self._pieces(body)]
        steps += [self._upload(channel, thread_ts, image) for image in message.images]
        await run_steps(steps, progress)

    async def remind(self, record: HandoffRecord, text: str, progress: Progress) -> None:
        """Ping staff in the thread (with the configured mention)."""
        channel, thread_ts = split_ref(record.staff_ref or "")
        mention = f"{self.ping_mention} " if self.ping_mention else ""
        await run_steps([self._text(channel, thread_ts, mention + escape_mrkdwn(text))], progress)

    @staticmethod
    def _pieces(text: str) -> list[str]:
        return split_escaped(escape_mrkdwn(text), PIECE_CHARS)

    def _text(self, channel: str, thread_ts: str, piece: str) -> Step:
        """Post an already-escaped piece (raw, so our own escaping is not doubled)."""

        async def post() -> str:
            ts = await self.poster.post_message(channel, piece, thread_ts, raw_mrkdwn=True)
            return f"{channel}:{ts}"

        return post

    def _upload(self, channel: str, thread_ts: str, image: ImagePart) -> Step:
        async def upload() -> str:
            return await self.poster.upload_image(
                channel, thread_ts, image, title=image.caption or "customer photo"
            )

        return upload


def split_ref(staff_ref: str) -> tuple[str, str]:
    """``"C123|1700000000.000100"`` → ``("C123", "1700000000.000100")``.

    Raises:
        PermanentDeliveryError: the ref is not a Slack thread reference.
    """
    channel, sep, thread_ts = staff_ref.partition("|")
    if not sep or not channel or not thread_ts:
        raise PermanentDeliveryError(f"not a Slack staff thread: {staff_ref!r}")
    return channel, thread_ts


def build_desk(adapter: Any, settings: SlackSettings, handoff: HandoffSettings) -> SlackDesk:
    """The desk for ``handoff.target: slack``: threads in the staff channel.

    Raises:
        DeskUnavailableError: the Slack adapter does not run.
        ConfigError: no staff channel is set.
    """
    if adapter is None:
        raise DeskUnavailableError(
            "handoff: the slack target needs the Slack adapter (KEFU_SLACK__BOT_TOKEN)"
        )
    channel = handoff.slack_channel or settings.staff_channel
    if not channel:
        raise ConfigError("handoff: set handoff.slack_channel or slack.staff_channel")
    return SlackDesk(adapter, channel, handoff.ping_mention)
