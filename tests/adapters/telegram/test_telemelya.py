"""kefu's Telegram adapter against telemelya, a mock Bot API kefu did not write.

A whole kefu (store, worker, dispatcher, stub engine) runs in webhook mode with PTB pointed
at telemelya. telemelya delivers the updates it builds to the webhook kefu registered, serves
the photos it keeps, and records every Bot API call kefu makes. It knows no drafts (Bot API
9.3+): its 404 for ``sendMessageDraft`` is what an older Bot API server answers, so these tests
also check the fallback from native drafts to paced edits. See tests/peers/telemelya_rig.py for
what telemelya lacks and how that is bridged.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr

from adapters.telegram.adapter import SECRET_HEADER, TelegramAdapter
from adapters.telegram.settings import TelegramSettings
from core.engines.stub import StubEngine
from core.ports import AdapterContext
from core.texts import text
from tests.adapters.telegram.conftest import WEBHOOK_SECRET
from tests.harness import KefuHarness
from tests.peers.telemelya_rig import SecretRelay, Sent, Telemelya, require_peer

pytestmark = pytest.mark.timeout(120)


@dataclass
class Rig:
    tm: Telemelya
    relay: SecretRelay
    harness: KefuHarness
    engine: StubEngine

    async def say(self, chat_id: int, **fields: object) -> int:
        delivery = await self.tm.send_update(chat_id, **fields)
        assert delivery["delivered"], delivery
        return int(delivery["status_code"])

    async def idle(self) -> None:
        await self.harness.wait_until_idle(timeout=20)

    async def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in await self.tm.sent() if s.chat_id == chat_id]


@asynccontextmanager
async def kefu_on_telemelya(tmp_path: Path, engine: StubEngine | None = None) -> AsyncIterator[Rig]:
    require_peer()
    engine = engine or StubEngine(token_delay_s=0.02)
    async with Telemelya() as tm, SecretRelay(WEBHOOK_SECRET, SECRET_HEADER) as relay:
        settings = TelegramSettings(
            bot_token=SecretStr(tm.token),
            mode="webhook",
            base_url=tm.base_url,
            base_file_url=tm.file_url,
            webhook_secret=SecretStr(WEBHOOK_SECRET),
            webhook_url=relay.url,
            album_journal_path=str(tmp_path / "albums.db"),
            stream_edit_interval_s=0.2,
            draft_interval_s=0.2,
            typing_interval_s=0.5,
        )

        def factory(context: AdapterContext) -> TelegramAdapter:
            return TelegramAdapter(context, settings)

        async with KefuHarness(engine=engine, adapters={"telegram": factory}) as harness:
            relay.target = f"{harness.base_url}/telegram/webhook"
            yield Rig(tm, relay, harness, engine)


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_kefu_registers_its_webhook_with_telemelya(tmp_path: Path) -> None:
    async with kefu_on_telemelya(tmp_path) as rig:
        assert await rig.tm.webhook() == rig.relay.url


async def test_text_is_answered_with_one_message_though_drafts_are_unknown(
    tmp_path: Path,
) -> None:
    async with kefu_on_telemelya(tmp_path) as rig:
        assert await rig.say(7001, text="hello from telemelya") == 200
        await rig.idle()
        sent = await rig.sent_to(7001)
        messages = [s for s in sent if s.method == "sendMessage"]
        assert [m.text for m in messages] == ["Echo: hello from telemelya"]
        assert not [s for s in sent if s.method == "editMessageText"]


async def test_after_a_404_for_drafts_answers_stream_by_edits(tmp_path: Path) -> None:
    """The first answer finds drafts unknown; the next one is previewed by paced edits."""
    answer = " ".join(f"word{i}" for i in range(40))
    engine = StubEngine(answer=lambda _request: answer, token_delay_s=0.02)
    async with kefu_on_telemelya(tmp_path, engine) as rig:
        await rig.say(7002, text="first")
        await rig.idle()
        before = len(await rig.sent_to(7002))
        await rig.say(7002, text="second")
        await rig.idle()
        second = (await rig.sent_to(7002))[before:]
        methods = [s.method for s in second]
        assert methods.count("sendMessage") == 1, methods
        assert "editMessageText" in methods, methods
        final = second[-1]
        assert final.method == "editMessageText"
        assert final.text == answer
        assert all(s.message_id == second[methods.index("sendMessage")].message_id
                   for s in second if s.method == "editMessageText")  # fmt: skip


async def test_a_photo_is_fetched_from_telemelya_and_answered(tmp_path: Path) -> None:
    async with kefu_on_telemelya(tmp_path) as rig:
        file_id = await rig.tm.upload_photo(jpeg((160, 120)))
        status = await rig.say(7003, photo_file_id=file_id, photo_caption="Is this in stock?")
        assert status == 200
        await rig.idle()
        (request,) = rig.engine.requests
        (image,) = request.messages[-1].images
        assert (image.width, image.height, image.caption) == (160, 120, "Is this in stock?")
        texts = [s.text for s in await rig.sent_to(7003) if s.method == "sendMessage"]
        assert len(texts) == 1 and texts[0] is not None and texts[0].startswith("Echo:")


async def test_start_command_gets_the_greeting(tmp_path: Path) -> None:
    async with kefu_on_telemelya(tmp_path) as rig:
        assert await rig.say(7004, command="start") == 200
        await rig.idle()
        texts = [s.text for s in await rig.sent_to(7004) if s.method == "sendMessage"]
        assert texts == [text("greeting", "en")]
        assert rig.engine.requests == []


async def test_an_update_without_the_secret_is_refused_and_never_answered(
    tmp_path: Path,
) -> None:
    """telemelya itself sends no secret header: straight to kefu, its updates are refused."""
    async with kefu_on_telemelya(tmp_path) as rig:
        rig.relay.add_secret = False
        assert await rig.say(7005, text="unsigned") == 403
        await rig.idle()
        assert await rig.sent_to(7005) == []
        assert rig.harness.store is not None
        counts = await rig.harness.store.counts()
        assert sum(n for name, n in counts.items() if name.startswith("inbox.")) == 0
