"""bench.serving in a tiny smoke mode: two stub-engine kefu services stand in for both sides."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bench import serving
from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.api.serving import build_service_app
from core.engines.stub import StubEngine


async def _serve(engine: StubEngine) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(
        build_service_app(engine, ServiceOptions(AccessOptions(open_inference=True))),
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = site._server.sockets  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/v1"


@pytest.fixture
async def two_servers() -> AsyncIterator[tuple[str, str, StubEngine, StubEngine]]:
    kefu, peer = StubEngine(), StubEngine()
    await kefu.start()
    await peer.start()
    first, kefu_url = await _serve(kefu)
    second, peer_url = await _serve(peer)
    yield kefu_url, peer_url, kefu, peer
    await first.cleanup()
    await second.cleanup()


async def test_alternating_rounds_report_ratios(two_servers, capsys) -> None:
    kefu_url, peer_url, kefu, peer = two_servers
    args = serving.parse_args(
        [
            *("--kefu-url", kefu_url, "--peer-url", peer_url, "--chats", "1,3", "--rounds", "2"),
            *("--questions", "2", "--max-tokens", "8", "--kefu-model", "kefu-stub"),
        ]
    )
    summary = await serving.run(args)
    lines = [line for line in summary.splitlines() if line.startswith("| ")]
    assert "kefu/llama-server tok/s" in lines[0]
    rows = {line.split("|")[1].strip(): line.split("|") for line in lines[1:]}
    assert set(rows) == {"1", "3"}
    # every question of every round reached each server: (1 + 3 chats) x 2 questions x 2
    # rounds, plus the warm-up of 2 questions
    assert len(kefu.requests) == len(peer.requests) == 4 * 2 * 2 + 2
    # logprobs were asked for and came back on every token
    assert all(request.logprobs for request in peer.requests)
    kefu_rate, peer_rate = float(rows["3"][2]), float(rows["3"][8])
    ratio = float(rows["3"][-3].strip())
    assert ratio == pytest.approx(kefu_rate / peer_rate, rel=0.05)
    out = capsys.readouterr().out
    assert "round 2" in out and "load average" in out and "errors" in lines[0]


async def test_failed_answers_are_counted_not_fatal(two_servers) -> None:
    kefu_url, _, kefu, _ = two_servers
    from core.errors import EngineError

    kefu.fail_with = EngineError("boom")
    args = serving.parse_args(
        ["--kefu-url", kefu_url, "--chats", "2", "--rounds", "1", "--max-tokens", "4"]
    )
    summary = await serving.run(args)
    row = next(line for line in summary.splitlines() if line.startswith("| 2 "))
    assert row.split("|")[-2].strip() == "4"  # 2 chats x 2 questions failed, all counted


def test_free_port_and_peer_command() -> None:
    port = serving.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # it was free
    command = serving.peer_command("/bin/llama-server", serving.find_gguf(), port, 2, 16)
    assert command[:3] == ["/bin/llama-server", "-m", str(serving.find_gguf())]
    assert "-np" in command and command[command.index("-np") + 1] == "16"
