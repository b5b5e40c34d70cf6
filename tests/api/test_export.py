"""GET /v1/conversations/{key}/export over real HTTP, with the operator token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from core.api.access import AccessOptions
from core.api.export import parse_key
from core.api.routes import ServiceOptions
from core.api.serving import mount_api
from core.model.turn import ConversationKey
from core.store.store import Store
from tests.handoff.helpers import open_handoff

Get = Callable[..., Awaitable[tuple[int, dict]]]  # type: ignore[type-arg]


@pytest.fixture
async def serve(
    tmp_path: object,
) -> AsyncIterator[Callable[[str | None], Awaitable[tuple[Store, Get]]]]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def start(operator_token: str | None, api_key: str | None = None) -> tuple[Store, Get]:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/kefu-{len(cleanups)}.db")
        app = web.Application()
        access = AccessOptions(api_key=api_key, operator_token=operator_token)
        mount_api(app, None, ServiceOptions(access), store)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        session = aiohttp.ClientSession()
        cleanups.extend([store.close, runner.cleanup, session.close])
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"

        async def get(key: str, token: str | None = "k3y") -> tuple[int, dict]:  # type: ignore[type-arg]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            url = f"{base}/v1/conversations/{quote(key, safe='')}/export"
            async with session.get(url, headers=headers) as response:
                return response.status, await response.json()

        return store, get

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()


async def test_a_conversation_exports_with_decisions_and_handoffs(serve) -> None:  # type: ignore[no-untyped-def]
    store, get = await serve("k3y")
    await open_handoff(store, chat="42", text="我要投诉")
    status, body = await get("telegram|42|")
    assert status == 200
    assert (
        body["conversation"]["key"] == "telegram|42|" and body["conversation"]["state"] == "handoff"
    )
    assert [t["text"] for t in body["turns"]] == ["我要投诉"]
    assert [d["kind"] for d in body["decisions"]] == ["handoff"]
    assert [(h["status"], h["reason"]) for h in body["handoffs"]] == [("open", "complaint wording")]
    assert (await get("telegram|42"))[0] == 200  # the thread part may be left out


async def test_errors_are_typed(serve) -> None:  # type: ignore[no-untyped-def]
    store, get = await serve("k3y")
    await open_handoff(store, chat="42")
    assert (await get("telegram|42|", token=None))[1]["error"]["code"] == "invalid_api_key"
    assert (await get("telegram|42|", token="wrong"))[0] == 401
    status, body = await get("telegram|")
    assert (status, body["error"]["code"]) == (400, "invalid_conversation_key")
    status, body = await get("telegram|43|")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_without_an_operator_token_export_is_refused(serve) -> None:  # type: ignore[no-untyped-def]
    store, get = await serve(None, api_key="anything")
    await open_handoff(store, chat="42")
    status, body = await get("telegram|42|", token="anything")
    assert (status, body["error"]["code"]) == (403, "operator_disabled")


async def test_the_inference_key_does_not_open_exports(serve) -> None:  # type: ignore[no-untyped-def]
    store, get = await serve("operator-secret", api_key="inference-key")
    await open_handoff(store, chat="42")
    assert (await get("telegram|42|", token="inference-key"))[0] == 401
    assert (await get("telegram|42|", token="operator-secret"))[0] == 200


def test_keys_parse() -> None:
    assert parse_key("slack|C1|1.2") == ConversationKey("slack", "C1", "1.2")
    assert parse_key("webhook:shop|abc") == ConversationKey("webhook", "abc", "", "shop")
    for bad in ("", "telegram", "|42|", "x|" + "9" * 700):
        with pytest.raises(ValueError):
            parse_key(bad)
