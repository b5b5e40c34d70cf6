"""A fourth platform is one folder plus one registry line: settings, wiring, in and out."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

import main
from adapters import registry
from adapters.registry import Platform
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.turn import Role
from core.store.store import Store
from tests.fourth_platform.adapter import EchoAdapter

ECHO = Platform(
    "echo",
    "tests.fourth_platform.settings:EchoSettings",
    "tests.fourth_platform.adapter:EchoAdapter",
)


@pytest.fixture
def with_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "PLATFORMS", (*registry.PLATFORMS, ECHO))  # the one line
    monkeypatch.setenv("KEFU_ECHO__TOKEN", "echo-secret")
    monkeypatch.setenv("KEFU_ECHO__PATH", "/echo/in")


async def test_a_registered_platform_is_configured_served_and_answered(
    with_echo: None, tmp_path: Path
) -> None:
    settings = main.load_settings(service={"port": 0}, worker={"poll_interval_s": 0.05})
    assert settings.platform("echo").path == "/echo/in"  # its own section, from the environment
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    brain = PromptBrain()
    brains = {Role.CUSTOMER: brain, Role.STAFF: brain}
    runtime = main.assemble(settings, store, StubEngine(), brains, web.Application())
    adapter = runtime.adapters["echo"]
    assert isinstance(adapter, EchoAdapter)
    await runtime.start()
    try:
        assert adapter.started
        body = {"chat": "c1", "user": "u1", "id": "m1", "text": "hello there"}
        async with aiohttp.ClientSession() as session:
            url = runtime.base_url + "/echo/in"
            async with session.post(url, json=body) as refused:
                assert refused.status == 401
            async with session.post(url, json=body, headers={"X-Echo-Token": "echo-secret"}) as r:
                assert r.status == 202
        await runtime.wait_until_idle(10)
    finally:
        await runtime.stop()
        await store.close()
    assert adapter.sent == [("c1", "Echo: hello there")]
    assert not adapter.started


def test_an_unconfigured_platform_is_not_built(
    with_echo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEFU_ECHO__TOKEN")
    settings = main.load_settings()
    assert not settings.platform("echo").configured
    context = main.AdapterContext(inbox=None)  # type: ignore[arg-type]
    assert "echo" not in main.build_adapters(settings, context)
