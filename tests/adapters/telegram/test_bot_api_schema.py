"""kefu's Bot API calls and its fake's updates, checked by aiogram's models.

kefu's own fake Bot API checks the newest features (drafts with a stop button, business
accounts), which telemelya does not know. To keep the fake honest, the calls kefu makes in
those scenarios and the updates the fake sends are checked against aiogram 3.31's models,
which are generated from Telegram's Bot API documentation (10.3) by people who are not us:
every method and parameter kefu sends must exist there with a valid value, and every update
the fake sends must parse with no field aiogram does not know.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.telegram.conftest import eventually, host_photo
from tests.adapters.telegram.test_native_e2e import (
    CONNECTION,
    OWNER,
    AbortRecordingEngine,
    Kefu,
    kefu,
    words,
)
from tests.fakes.telegram_server import FakeTelegramServer
from tests.peers.venv import aiogram_check

pytestmark = pytest.mark.timeout(120)


class Recorder:
    """Posts updates to kefu and keeps them for the check."""

    def __init__(self, k: Kefu) -> None:
        self.k = k
        self.updates: list[dict[str, Any]] = []

    async def post(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        assert await self.k.post(update) == 200


async def drafts_stop_and_business(tg: FakeTelegramServer, rec: Recorder) -> None:
    k = rec.k
    await rec.post(tg.updates.text("tell me about the jacket"))
    await k.idle()
    await rec.post(tg.updates.text("write me an essay", chat_id=43, user=tg.updates.user(43)))
    await eventually(lambda: any(len(d.texts) >= 3 for d in tg.chat_drafts(43)))
    (draft,) = tg.chat_drafts(43)
    await rec.post(tg.press_stop(43, draft.draft_id))
    await k.idle()
    await rec.post(tg.updates.group_text("what's new?", mention=True))
    host_photo(tg, "ph")
    await rec.post(tg.updates.photo("ph", caption="is this in stock?"))
    await rec.post(tg.connect_business(CONNECTION, OWNER))
    await rec.post(tg.updates.business_message("do you ship to Hangzhou?", CONNECTION, chat_id=44))
    await k.idle()
    owner_reply = tg.updates.business_message("Mei here: yes!", CONNECTION, chat_id=44, user=OWNER)
    await rec.post(owner_reply)
    await k.idle()


async def test_kefus_calls_and_the_fakes_updates_match_aiogram(
    tg: FakeTelegramServer, tmp_path: Path
) -> None:
    engine = AbortRecordingEngine(words(60), token_delay_s=0.02)
    async with kefu(tg, engine) as k:
        rec = Recorder(k)
        await drafts_stop_and_business(tg, rec)
    calls = [{"method": c.method, "params": c.params} for c in tg.calls if c.status == 200]
    methods = {c["method"] for c in calls}
    expected = {"getMe", "setWebhook", "sendMessageDraft", "sendMessage", "editMessageText",
                "getFile", "sendChatAction"}  # fmt: skip
    assert expected <= methods, methods
    assert any(c["params"].get("can_stop") for c in calls if c["method"] == "sendMessageDraft")
    assert any("business_connection_id" in c["params"] for c in calls)
    recorded = tmp_path / "recorded.json"
    recorded.write_text(json.dumps({"calls": calls, "updates": rec.updates}))
    report = await aiogram_check(recorded)
    assert (report["calls"], report["updates"]) == (len(calls), len(rec.updates))
    assert report["problems"] == []


async def test_the_check_itself_finds_unknown_methods_parameters_and_fields(
    tmp_path: Path,
) -> None:
    bad = {
        "calls": [
            {"method": "sendMessageDrafts", "params": {"chat_id": 1, "draft_id": 2}},
            {"method": "sendMessageDraft", "params": {"chat_id": 1, "draft_id": 2, "can_stopp": True}},
            {"method": "sendMessage", "params": {"chat_id": 1}},
        ],
        "updates": [
            {"update_id": 1, "stopped_generation": {"chat": {"id": 1, "type": "private"}}},
            {"update_id": 2, "stopped_message_generation": {"chat": {"id": 1, "type": "private"},
                                                            "draft": 5}},
        ],
    }  # fmt: skip
    recorded = tmp_path / "bad.json"
    recorded.write_text(json.dumps(bad))
    problems = (await aiogram_check(recorded))["problems"]
    assert any("sendMessageDrafts" in p and "no such method" in p for p in problems)
    assert any("can_stopp" in p for p in problems)
    assert any(p.startswith("sendMessage:") and "text" in p for p in problems)  # text missing
    assert any("update 1" in p and "no kind" in p for p in problems)
    assert any("draft_id" in p for p in problems)  # the required field is missing
