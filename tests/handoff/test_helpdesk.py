"""The webhook helpdesk desk against the recording receiver (verified with standardwebhooks)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.webhook.helpdesk import WebhookDesk
from core.errors import PermanentDeliveryError, PlatformError, RateLimitedError
from core.handoff.desk import HandoffBrief, Progress, RelayedMessage
from core.handoff.summary import summarise
from core.media.images import ImageLimits, normalise_image
from core.model.handoff import HandoffRecord, TranscriptEntry
from core.model.turn import ConversationKey, Role, Sender
from tests.conftest import png_bytes
from tests.fakes.callback_receiver import CallbackReceiver

SECRET = "whsec_" + base64.b64encode(b"a-helpdesk-signing-key-for-tests").decode()
CUSTOMER = Sender("42", "Ada", Role.CUSTOMER)
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
RECORD = HandoffRecord(
    5, 1, ConversationKey("telegram", "42"), "open", "low confidence", "slack", None, None, None, AT
)


@pytest.fixture
async def helpdesk() -> AsyncIterator[tuple[WebhookDesk, CallbackReceiver]]:
    async with CallbackReceiver(SECRET) as receiver:
        desk = WebhookDesk(receiver.url, SECRET, timeout_s=5, max_image_bytes=2000)
        try:
            yield desk, receiver
        finally:
            await desk.stop()


async def test_opened_event_is_signed_and_complete(
    helpdesk: tuple[WebhookDesk, CallbackReceiver],
) -> None:
    desk, receiver = helpdesk
    small = normalise_image(png_bytes((8, 8)), ImageLimits())
    big = normalise_image(png_bytes((300, 300), (1, 2, 3)), ImageLimits())
    big = type(big)(big.data + b"\0" * 3000, big.mime, big.width, big.height, big.sha256)
    entries = (TranscriptEntry(1, Role.CUSTOMER, CUSTOMER, "is 42 ok", (small, big), None, AT),)
    brief = HandoffBrief(RECORD, summarise(RECORD, CUSTOMER, entries, 3), entries, "maybe 42")
    assert await desk.open(brief, Progress(-5)) == "webhook|5"
    [call] = receiver.calls
    assert call.verified and call.webhook_id == "handoff_5_opened"
    body = call.body
    assert body["draft"] == "maybe 42" and body["handoff"]["reason"] == "low confidence"
    assert body["summary"]["latest_messages"] == ["is 42 ok"]
    inline, reference = body["transcript"][0]["images"]
    assert base64.b64decode(inline["data_base64"]) == small.data
    assert "data_base64" not in reference and reference["bytes"] > 2000  # too big to inline


async def test_a_finished_delivery_is_not_posted_twice(
    helpdesk: tuple[WebhookDesk, CallbackReceiver],
) -> None:
    desk, receiver = helpdesk
    progress = Progress(77)
    for _ in range(2):
        await desk.relay(RECORD, RelayedMessage(CUSTOMER, "hello"), progress)
    [call] = receiver.calls
    assert call.webhook_id == "handoff_msg_77" and call.body["message"]["text"] == "hello"
    await desk.remind(RECORD, "nobody took it", Progress(78))
    assert receiver.calls[-1].body == {
        "type": "handoff.reminder",
        "handoff": call.body["handoff"],
        "text": "nobody took it",
    }


@pytest.mark.parametrize(
    ("status", "error"),
    [(410, PermanentDeliveryError), (429, RateLimitedError), (500, PlatformError)],
)
async def test_status_codes_map_to_delivery_errors(
    helpdesk: tuple[WebhookDesk, CallbackReceiver], status: int, error: type[Exception]
) -> None:
    desk, receiver = helpdesk
    receiver.fail_next(1, status=status, retry_after="3")
    progress = Progress(9)
    with pytest.raises(error) as raised:
        await desk.relay(RECORD, RelayedMessage(CUSTOMER, "hi"), progress)
    if isinstance(raised.value, RateLimitedError):
        assert raised.value.retry_after == 3
    assert progress.steps_done == 0  # a retry posts again, with the same webhook-id
    await desk.relay(RECORD, RelayedMessage(CUSTOMER, "hi"), progress)
    assert [c.webhook_id for c in receiver.calls] == ["handoff_msg_9"] * 2
