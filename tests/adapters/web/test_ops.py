"""The operator desk's API: the token, the queue and its actions, conversations, system,
knowledge reload and the playground."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bots.shop.brain import BOT_DIR, build_brain
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.turn import Role
from core.texts import text
from tests.adapters.web.kefu import DATA, TOKEN, ChatClient, WebKefu, read_events, web_kefu

BEARER = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = [
    ("GET", "/ops/api/handoffs"), ("POST", "/ops/api/handoffs/1/take"),
    ("GET", "/ops/api/conversations"), ("GET", "/ops/api/conversations/1"),
    ("GET", "/ops/api/conversations/1/export"), ("GET", "/ops/api/images/" + "0" * 64),
    ("GET", "/ops/api/events"), ("GET", "/ops/api/system"),
    ("POST", "/ops/api/knowledge/reload"), ("POST", "/ops/api/playground"),
]  # fmt: skip


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)


async def api(http: aiohttp.ClientSession, kefu: WebKefu, path: str, **kw: Any) -> Any:
    method = "POST" if "json" in kw or "data" in kw else "GET"
    async with http.request(method, kefu.url + "/ops/api" + path, headers=BEARER, **kw) as r:
        return r.status, await r.json()


async def eventually_queue(http: aiohttp.ClientSession, kefu: WebKefu, name: str) -> list[Any]:
    import asyncio

    for _ in range(100):
        _, queues = await api(http, kefu, "/handoffs")
        if queues[name] and all(h["opened"] for h in queues[name]):
            return list(queues[name])
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing {name}: {queues}")


@pytest.mark.parametrize("token", [None, TOKEN])
async def test_without_the_token_every_route_is_a_bare_401(token: str | None) -> None:
    async with web_kefu(StubEngine(), token=token) as kefu:
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            chat = ChatClient(http, kefu.url)
            await chat.open()
            await chat.send("my phone is 13800000000")
            await kefu.runtime.wait_until_idle(10)
        async with aiohttp.ClientSession() as stranger:
            bodies = set()
            for method, path in ROUTES:
                headers = {"Authorization": "Bearer wrong"}
                async with stranger.request(method, kefu.url + path, headers=headers) as r:
                    assert r.status == 401, path
                    bodies.add(await r.text())
            async with stranger.get(kefu.url + "/ops") as page:
                assert page.status == 401
                assert "13800000000" not in await page.text()
            async with stranger.post(kefu.url + "/ops/login", data={"token": "wrong"}) as login:
                assert login.status == 401  # back on the sign-in form
    assert len(bodies) == 1 and "13800000000" not in bodies.pop()


async def test_signing_in_sets_a_cookie_that_opens_the_desk_and_signing_out_clears_it() -> None:
    async with web_kefu(StubEngine()) as kefu, aiohttp.ClientSession(cookie_jar=jar()) as http:
        async with http.post(kefu.url + "/ops/login", data={"token": TOKEN}) as signed_in:
            assert signed_in.status == 200 and "Operator desk" in await signed_in.text()
        cookie = next(c for c in http.cookie_jar if c.key == "kefu_ops")
        assert TOKEN not in cookie.value and cookie["httponly"]
        async with http.get(kefu.url + "/ops/api/handoffs") as r:
            assert r.status == 200
        async with http.post(kefu.url + "/ops/logout") as out:
            assert out.status == 401
        async with http.get(kefu.url + "/ops/api/handoffs") as r:
            assert r.status == 401


async def test_the_queue_and_take_reply_resolve_work_both_ways() -> None:
    async with web_kefu(StubEngine()) as kefu, aiohttp.ClientSession(cookie_jar=jar()) as http:
        chat = ChatClient(http, kefu.url)
        await chat.open()
        await chat.send("where is my parcel")
        await chat.send(command="human")
        [waiting] = await eventually_queue(http, kefu, "waiting")
        assert waiting["reason"] == "explicit request" and waiting["key"]["platform"] == "web"
        handoff = waiting["id"]
        assert (await api(http, kefu, "/handoffs/999/take", json={}))[0] == 404
        assert (await api(http, kefu, f"/handoffs/{handoff}/launch", json={}))[0] == 400
        assert (await api(http, kefu, f"/handoffs/{handoff}/take", data=b"not json"))[0] == 400
        assert (await api(http, kefu, f"/handoffs/{handoff}/reply", json={"text": " "}))[0] == 400
        status, _ = await api(http, kefu, f"/handoffs/{handoff}/take", json={"name": "Mei"})
        assert status == 202
        [taken] = await eventually_queue(http, kefu, "taken")
        assert taken["taken_by"] == "Mei"
        reply = {"name": "Mei", "text": "It left today."}
        assert (await api(http, kefu, f"/handoffs/{handoff}/reply", json=reply))[0] == 202
        relayed = await read_events(http, kefu.url + "/web/api/events", "It left today.")
        assert relayed[-1][1]["kind"] == "relay"
        note = {"name": "Mei", "text": "// check the courier first"}  # among staff only
        assert (await api(http, kefu, f"/handoffs/{handoff}/reply", json=note))[0] == 202
        await chat.send("thank you!")  # relayed to the desk, not answered by the bot
        await kefu.runtime.wait_until_idle(10)
        assert (await api(http, kefu, f"/handoffs/{handoff}/resolve", json={"name": "Mei"}))[
            0
        ] == 202
        [done] = await eventually_queue(http, kefu, "resolved")
        back = await read_events(http, kefu.url + "/web/api/events", "shop assistant bot again")
        await kefu.runtime.wait_until_idle(10)
        kept = kefu.runtime.adapters["web"].chats.kept(waiting["key"]["chat_id"])
        _, listed = await api(http, kefu, "/conversations?platform=web")
        detail_status, detail = await api(http, kefu, f"/conversations/{done['conversation_id']}")
        desk_url = kefu.url + "/ops/api/events"
        desk_events = await read_events(http, desk_url, "thank you!", headers=BEARER)
    assert done["status"] == "resolved" and kept[-1].data == '{"state": "bot"}'
    assert not any(d.get("text") == "Echo: thank you!" for _, d in back)
    assert not any("courier" in str(d.get("text")) for _, d in back)
    [conversation] = listed["conversations"]  # the desk's own threads are not listed
    assert conversation["state"] == "bot" and listed["platforms"] == ["web"]
    texts_ = [t["text"] for t in detail["turns"]]
    assert detail_status == 200 and "It left today." in texts_ and "thank you!" in texts_
    kinds = [d["kind"] for d in detail["decisions"]]
    assert {"answer", "handoff", "take", "relay", "resolve"} <= set(kinds)
    assert any(e.get("event") == "customer" for _, e in desk_events)


async def test_export_images_and_system() -> None:
    png = (DATA / "price_tag.png").read_bytes()
    async with web_kefu(StubEngine()) as kefu, aiohttp.ClientSession(cookie_jar=jar()) as http:
        chat = ChatClient(http, kefu.url)
        await chat.open()
        await chat.send("how much?", images=(png,))
        await kefu.runtime.wait_until_idle(10)
        _, listed = await api(http, kefu, "/conversations")
        conversation = listed["conversations"][0]["id"]
        _, detail = await api(http, kefu, f"/conversations/{conversation}")
        [sha] = detail["turns"][0]["images"]
        async with http.get(kefu.url + f"/ops/api/images/{sha}", headers=BEARER) as image:
            assert image.status == 200 and image.content_type == "image/png"
        url = kefu.url + f"/ops/api/conversations/{conversation}/export"
        async with http.get(url, headers=BEARER) as exported:
            assert "attachment" in exported.headers["Content-Disposition"]
            data = await exported.json()
        _, system = await api(http, kefu, "/system")
        form = aiohttp.FormData({"client_id": "playground0", "text": "which is better?"})
        for name in ("a.png", "b.png"):
            form.add_field("image", png, filename=name, content_type="image/png")
        status, tried = await api(http, kefu, "/playground?temperature=0.7&max_tokens=3", data=form)
    assert status == 200 and tried["decision"] == "answer"
    assert tried["raw"] == "Echo: which is" == tried["customer_gets"]  # 3 tokens, 2 photos
    assert tried["confidence"]["components"] and tried["tokens"] == 3
    assert [t["text"] for t in data["turns"]] == ["how much?", "Echo: how much? [1 image(s)]"]
    assert system["engine"]["model"] == "kefu-stub" and system["engine"]["recent_answers"] == 1
    assert system["engine"]["tokens_per_second"] > 0 and system["engine"]["gpu"] is None
    assert system["engine"]["device"] == "cpu"
    assert system["queues"]["inbox.done"] == 1 and system["dead_letters"] == []
    assert system["knowledge"] is None  # the prompt-only bot has no knowledge folder


async def test_knowledge_reload_validates_before_it_swaps_and_the_playground(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(BOT_DIR / "knowledge", folder)
    shop = build_brain(ocr=None, knowledge_dir=folder)
    brains = {Role.CUSTOMER: shop, Role.STAFF: PromptBrain()}
    async with web_kefu(StubEngine(), brains) as kefu, aiohttp.ClientSession() as http:
        _, system = await api(http, kefu, "/system")
        assert system["knowledge"]["folder"] == str(folder)
        loaded = system["knowledge"]["loaded_at"]
        (folder / "faq.yaml").write_text("faq: [not: valid", encoding="utf-8")
        status, refused = await api(http, kefu, "/knowledge/reload", data=b"")
        assert status == 422 and "faq.yaml" in refused["error"]
        assert refused["kept"]["loaded_at"] == loaded  # the old knowledge still answers
        shutil.copy(BOT_DIR / "knowledge" / "faq.yaml", folder / "faq.yaml")
        status, reloaded = await api(http, kefu, "/knowledge/reload", data=b"")
        assert status == 200 and reloaded["knowledge"]["loaded_at"] > loaded
        form = aiohttp.FormData({"client_id": "playground1", "text": "我要投诉"})
        status, handed = await api(http, kefu, "/playground", data=form)
        assert status == 200 and handed["decision"] == "handoff" and handed["raw"] == ""
        assert handed["customer_gets"] == text("handoff_notice", "zh").format(wait=10)
        bad = aiohttp.FormData({"client_id": "playground2", "text": "hi"})
        status, error = await api(http, kefu, "/playground?temperature=9", data=bad)
        assert status == 400 and "temperature" in error["error"]


async def test_a_handoff_held_on_another_desk_is_acted_on_there() -> None:
    from core.model.turn import ConversationKey
    from core.store.handoffs import HandoffRecords

    async with web_kefu(StubEngine()) as kefu, aiohttp.ClientSession() as http:
        conversation = await kefu.store.conversation(ConversationKey("telegram", "s1"))
        handoff = await HandoffRecords(kefu.store).open_taken(
            conversation.id, "complaint", "slack", "Ann", "C1|1.2"
        )
        status, body = await api(http, kefu, f"/handoffs/{handoff}/take", json={})
    assert status == 409 and "slack desk" in body["error"]
