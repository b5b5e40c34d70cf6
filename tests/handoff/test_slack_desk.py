"""The Slack desk through the real Slack adapter and slack-sdk against the fake Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.slack.adapter import SlackAdapter
from adapters.slack.desk import PIECE_CHARS, SlackDesk, split_ref
from core.errors import PermanentDeliveryError
from core.handoff.desk import HandoffBrief, Progress, RelayedMessage
from core.handoff.summary import summarise
from core.model.handoff import HandoffRecord, TranscriptEntry
from core.model.turn import ConversationKey, Role, Sender
from core.ports import AdapterContext
from tests.adapters.slack.conftest import MemoryInbox, slack_settings
from tests.fakes.slack_server import FakeSlack

CUSTOMER = Sender("42", "Eve <!channel>", Role.CUSTOMER)
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def record(staff_ref: str | None = None) -> HandoffRecord:
    return HandoffRecord(
        3,
        1,
        ConversationKey("telegram", "42"),
        "open",
        "explicit request",
        "slack",
        staff_ref,
        None,
        None,
        AT,
    )


def brief(*texts: str, draft: str = "") -> HandoffBrief:
    entries = tuple(
        TranscriptEntry(i, Role.CUSTOMER, CUSTOMER, t, (), None, AT) for i, t in enumerate(texts)
    )
    return HandoffBrief(record(), summarise(record(), CUSTOMER, entries, 3), entries, draft)


@pytest.fixture
async def desk() -> AsyncIterator[tuple[SlackDesk, FakeSlack]]:
    async with FakeSlack() as fake:
        adapter = SlackAdapter(
            AdapterContext(inbox=MemoryInbox(), receive=False), slack_settings(fake, mode="socket")
        )
        await adapter.start()
        try:
            yield SlackDesk(adapter, "CSTAFF", "<!subteam^S1>"), fake
        finally:
            await adapter.stop()


async def test_customer_words_cannot_ping_or_disguise_links(
    desk: tuple[SlackDesk, FakeSlack],
) -> None:
    slack_desk, fake = desk
    staff_ref = await slack_desk.open(brief("<!channel> see <http://evil|your order>"), Progress(1))
    channel, ts = split_ref(staff_ref)
    parent = fake.messages[(channel, ts)]
    assert "<!channel>" not in parent.text and "&lt;!channel&gt;" in parent.text
    assert "&lt;http://evil|your order&gt;" in parent.text
    assert parent.blocks[0]["text"]["text"] == parent.text  # the buttons come as blocks
    progress = Progress(2)
    await slack_desk.relay(record(staff_ref), RelayedMessage(CUSTOMER, "<@UBOSS> & more"), progress)
    [relayed] = fake.thread(channel, ts)
    assert relayed.text == "Eve &lt;!channel&gt;: &lt;@UBOSS&gt; &amp; more"
    await slack_desk.relay(record(staff_ref), RelayedMessage(CUSTOMER, "again?"), progress)
    assert len(fake.thread(channel, ts)) == 1  # a finished delivery's progress repeats nothing


async def test_reminders_carry_the_configured_mention(desk: tuple[SlackDesk, FakeSlack]) -> None:
    slack_desk, fake = desk
    await slack_desk.remind(record("CSTAFF|1.1"), "waited <5> min", Progress(1))
    [call] = fake.calls_to("chat.postMessage")
    assert call.params["text"] == "<!subteam^S1> waited &lt;5&gt; min"
    assert call.params["thread_ts"] == "1.1"


async def test_long_transcripts_and_drafts_are_split(desk: tuple[SlackDesk, FakeSlack]) -> None:
    slack_desk, fake = desk
    long_brief = brief(*(f"message {i} " + "x" * 900 for i in range(8)), draft="try size 42")
    await slack_desk.details(long_brief, "CSTAFF|9.9", Progress(1))
    posted = [c.params["text"] for c in fake.calls_to("chat.postMessage")]
    assert len(posted) >= 3 and all(len(p) <= PIECE_CHARS for p in posted)
    assert posted[0].startswith("Transcript (last 8 turns") and posted[-1].endswith("try size 42")
    assert all(f"message {i}" in "".join(posted) for i in range(8))


def test_a_staff_ref_must_name_a_channel_and_a_thread() -> None:
    assert split_ref("C1|1700000000.000100") == ("C1", "1700000000.000100")
    for bad in ("", "C1", "|1.1", "C1|", "webhook"):
        with pytest.raises(PermanentDeliveryError):
            split_ref(bad)
