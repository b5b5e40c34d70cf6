"""The web desk: the default handoff target, reachable only with an operator token."""

from __future__ import annotations

import logging

import pytest

import main
from adapters.web.adapter import WebAdapter
from adapters.web.desk import WebDesk, build_desk, staff_key
from adapters.web.hub import EventHub
from adapters.web.settings import WebSettings
from config.handoff import HandoffSettings
from core.errors import DeskUnavailableError
from core.handoff.desk import Progress, RelayedMessage
from core.model.decision import HandoffStatus
from core.model.handoff import HandoffRecord
from core.model.turn import ConversationKey, Sender
from core.ports import AdapterContext
from core.store.db import utcnow

RECORD = HandoffRecord(
    7, 3, ConversationKey("web", "c1"), HandoffStatus.OPEN, "explicit request", "web",
    "ops|7", None, None, utcnow(),
)  # fmt: skip


def test_staff_turns_on_a_handoff_thread_belong_to_it() -> None:
    desk = WebDesk(EventHub())
    assert desk.staff_ref_of(staff_key(7)) == "ops|7"
    assert desk.staff_ref_of(ConversationKey("web", "c1")) is None
    assert desk.staff_ref_of(ConversationKey("slack", "ops", "7")) is None


async def test_the_desk_tells_operator_pages_what_changed() -> None:
    hub = EventHub()
    desk = WebDesk(hub)
    progress = Progress(1)
    await desk.relay(RECORD, RelayedMessage(Sender("u1"), "hello?"), progress)
    await desk.remind(RECORD, "nobody took it", progress)
    events = [e.data for e in hub.kept("desk")]
    assert '"event": "customer"' in events[0] and "hello?" in events[0]
    assert '"event": "reminder"' in events[1] and len(progress.platform_ids) == 2


def test_the_web_desk_needs_the_web_chat() -> None:
    with pytest.raises(DeskUnavailableError):
        build_desk(None, WebSettings(), HandoffSettings())
    adapter = WebAdapter(AdapterContext(inbox=None))  # type: ignore[arg-type]
    assert isinstance(build_desk(adapter, WebSettings(), HandoffSettings()), WebDesk)


def test_handoffs_go_to_the_web_desk_by_default_when_a_token_opens_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = WebAdapter(AdapterContext(inbox=None))  # type: ignore[arg-type]
    with_token = main.load_settings(service={"operator_token": "t0ken-long-enough"})
    [desk] = main.build_desks(with_token, {"web": adapter})
    assert desk.target == "web"
    with caplog.at_level(logging.WARNING):
        assert main.build_desks(main.load_settings(), {"web": adapter}) == []
    assert "shop's contact" in caplog.text
    off = main.load_settings(service={"operator_token": "t"}, web={"enabled": False})
    assert main.build_desks(off, {}) == []
