"""The web chat over HTTP: sessions, messages with photos, live events, limits."""

from __future__ import annotations

import aiohttp
import pytest

from adapters.web.adapter import OPS_CHAT, WebAdapter, chat_id_of
from core.engines.stub import StubEngine
from core.model.turn import Button, Command, ConversationKey, Reply, ReplyKind
from core.ports import AdapterContext
from core.texts import text
from tests.adapters.web.kefu import DATA, ChatClient, read_events, web_kefu


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1


async def test_a_message_is_answered_over_the_event_stream_with_a_draft_first() -> None:
    engine = StubEngine(token_delay_s=0.08)
    async with web_kefu(engine) as kefu, aiohttp.ClientSession(cookie_jar=jar()) as http:
        chat = ChatClient(http, kefu.url)
        session = await chat.open()
        assert session["state"] == "bot" and session["max_images"] == 6
        await chat.send("hello there friend")
        events = await read_events(http, kefu.url + "/web/api/events", '"kind": "answer"')
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "draft" and "draft_end" in kinds
    answer = events[-1][1]
    assert answer["text"] == "Echo: hello there friend" and answer["stream_ref"]
    assert answer["buttons"] == [{"label": "Talk to a person", "command": "human"}]
    drafts = [d["text"] for k, d in events if k == "draft" and d["text"]]
    assert drafts and all("Echo: hello there friend".startswith(d) for d in drafts)
    assert len(drafts[0]) < len(answer["text"])  # seen before it was finished


async def test_a_reconnecting_page_gets_what_it_missed_and_nothing_twice() -> None:
    async with web_kefu(StubEngine()) as kefu, aiohttp.ClientSession(cookie_jar=jar()) as http:
        chat = ChatClient(http, kefu.url)
        await chat.open()
        await chat.send("first")
        await kefu.runtime.wait_until_idle(10)
        await chat.send("second")
        await kefu.runtime.wait_until_idle(10)
        url = kefu.url + "/web/api/events"
        everything = await read_events(http, url, "Echo: second")
        adapter = kefu.runtime.adapters["web"]
        kept = adapter.chats.kept(chat_id_of_session(http))
        first_id = next(e.id for e in kept if "Echo: first" in e.data)
        rest = await read_events(http, url, "Echo: second", after=first_id)
    assert [d["text"] for k, d in everything if k == "message"] == ["Echo: first", "Echo: second"]
    assert [d["text"] for k, d in rest if k == "message"] == ["Echo: second"]


def chat_id_of_session(http: aiohttp.ClientSession) -> str:
    cookie = next(c for c in http.cookie_jar if c.key == "kefu_chat")
    return chat_id_of(cookie.value)


async def test_photos_commands_and_limits() -> None:
    png = (DATA / "price_tag.png").read_bytes()
    async with web_kefu(StubEngine(), web={"max_images": 2}) as kefu:
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            chat = ChatClient(http, kefu.url)
            await chat.open()
            await chat.send("compare these", images=(png, png))
            too_many = await chat.send("x", images=(png, png, png), status=400)
            assert "at most 2 photos" in too_many["error"]
            broken = await chat.send("x", images=(b"not an image",), status=400)
            assert broken["message"] == text("image_unsupported", "en")
            empty = await chat.send("", status=400)
            assert "empty" in empty["error"]
            await chat.send("/foo")
            url = kefu.url + "/web/api/events"
            events = await read_events(http, url, "/foo")
        async with aiohttp.ClientSession() as stranger:  # no session cookie
            form = aiohttp.FormData({"client_id": "abcdefgh12", "text": "hi"})
            async with stranger.post(kefu.url + "/web/api/messages", data=form) as refused:
                assert refused.status == 401
    texts = [d["text"] for k, d in events if k == "message"]
    assert texts[0] == "Echo: compare these [2 image(s)]"
    assert texts[1] == text("unknown_command", "en").format(command="foo")


async def test_a_handoff_shows_in_the_state_and_a_missing_desk_gives_the_contact() -> None:
    # No token: nobody could open the desk, so no desk takes handoffs.
    kefu_ = web_kefu(StubEngine(), token=None)
    async with kefu_ as kefu, aiohttp.ClientSession(cookie_jar=jar()) as http:
        chat = ChatClient(http, kefu.url)
        await chat.open()
        await chat.send(command="human")
        events = await read_events(http, kefu.url + "/web/api/events", "No member of staff")
        await chat.send("still there?")
        answered = await read_events(http, kefu.url + "/web/api/events", "Echo: still there?")
    assert events[-1][1]["kind"] == "notice"
    assert ("state", {"state": "bot"}) in answered
    assert ("state", {"state": "handoff"}) not in answered  # never left with nobody
    assert answered[-1][1]["text"] == "Echo: still there?"


def test_replies_become_page_messages() -> None:
    adapter = WebAdapter(AdapterContext(inbox=None))  # type: ignore[arg-type]
    reply = Reply(
        ConversationKey("web", "c1"),
        "hi",
        ReplyKind.RELAY,
        buttons=(Button("Talk", Command.HUMAN),),
    )
    [message] = adapter.to_platform(reply)
    assert (message.text, message.kind, message.buttons) == (
        "hi", "relay", [{"label": "Talk", "command": "human"}],
    )  # fmt: skip
    assert OPS_CHAT == "ops"


@pytest.mark.parametrize("path", ["/web/api/session", "/web/api/events"])
async def test_routes_answer_503_until_started(path: str) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    app = web.Application()
    WebAdapter(AdapterContext(inbox=None, web=app))  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        assert response.status == 503


async def test_the_shop_bot_shows_only_thinking_never_a_draft_it_may_withhold() -> None:
    from bots.shop.brain import build_brain
    from core.answering.prompt_brain import PromptBrain
    from core.model.turn import Role

    brains = {Role.CUSTOMER: build_brain(ocr=None), Role.STAFF: PromptBrain()}
    engine = StubEngine(
        lambda request: "The Linen Casual Shirt is made of linen.", token_delay_s=0.05
    )
    async with web_kefu(engine, brains) as kefu, aiohttp.ClientSession(cookie_jar=jar()) as http:
        chat = ChatClient(http, kefu.url)
        await chat.open()
        await chat.send("What is the Linen Casual Shirt made of?")
        events = await read_events(http, kefu.url + "/web/api/events", "made of linen.")
    drafts = [d for k, d in events if k == "draft"]
    assert drafts and all(d["text"] == "" for d in drafts)  # "Thinking…" only
    assert events[-1][1]["text"] == "The Linen Casual Shirt is made of linen."
