"""End to end: a customer on the generic webhook platform handed over to staff in Slack;
the staff reply comes back as a signed reply callback."""

from __future__ import annotations

import json

from adapters.webhook.settings import WebhookSettings, WebhookSource
from adapters.webhook.signing import parse_secret, signed_headers
from core.texts import text
from tests.adapters.webhook.conftest import SECRET
from tests.fakes.callback_receiver import CallbackReceiver
from tests.fakes.slack_server import event_callback, message_event
from tests.handoff.rig import STAFF_CHANNEL, Rig, eventually, running_kefu


async def customer_posts(rig: Rig, webhook_id: str, words: str) -> int:
    body = json.dumps({"conversation_id": "conv-1", "user": {"id": "u-1", "name": "Ann"},
                       "text": words}).encode()  # fmt: skip
    headers = {"Content-Type": "application/json",
               **signed_headers(parse_secret(SECRET), webhook_id, body)}  # fmt: skip
    url = f"{rig.harness.base_url}/webhooks/shop"
    async with rig.session.post(url, data=body, headers=headers) as response:
        return response.status


async def test_a_webhook_customer_gets_the_staff_reply_by_callback() -> None:
    async with CallbackReceiver(SECRET) as receiver:
        source = WebhookSource(secret=SECRET, callback_url=receiver.url)
        async with running_kefu(webhook=WebhookSettings(sources={"shop": source})) as rig:
            assert await customer_posts(rig, "msg_1", "I want to file a complaint") == 202
            await eventually(lambda: len(rig.parents()) == 1)
            [parent] = rig.parents()
            assert "Customer: Ann (webhook:shop id u-1)" in parent.text
            event = message_event(STAFF_CHANNEL, "USTAFF1", "We are on it, Ann.", "1700009500.1",
                                  channel_type="channel", thread_ts=parent.ts)  # fmt: skip
            assert (await rig.staff.post_event(event_callback(event)))[0] == 200
            calls = await receiver.wait_for(2)
            await rig.idle()
    notice, relay = (c.body for c in calls)
    assert notice["kind"] == "handoff" and notice["text"] == text("handoff_notice", "en").format(
        wait=10
    )
    assert (relay["kind"], relay["text"], relay["conversation_id"]) == (
        "relay", "We are on it, Ann.", "conv-1")  # fmt: skip
    assert all(c.verified for c in calls) and rig.engine.requests == []
