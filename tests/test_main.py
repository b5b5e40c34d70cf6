"""The CLI (main.py) end to end with the real embedded model: chat, core service, export.

These start kefu as a user would, in a subprocess, on the embedded SmolLM2 (marked slow).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import pytest

import main
from core.engines.ocr_wrapper import OcrTextEngine

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "tests" / "data" / "order_screenshot.png"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        {
            "KEFU_STORE__URL": f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}",
            "KEFU_ENGINE__CACHE_DIR": str(ROOT / ".kefu" / "models"),
            "KEFU_ENGINE__MAX_NEW_TOKENS": "48",
            "KEFU_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_help_and_bad_config_exit_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        main.main(["--help"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("telegram:\n  bot_token: 123:abc\n", encoding="utf-8")
    monkeypatch.setenv("KEFU_CONFIG", str(bad))
    assert main.main(["export", "terminal|x|"]) == 2
    assert "KEFU_TELEGRAM__BOT_TOKEN" in capsys.readouterr().err


def test_one_ocr_reader_serves_the_engine_and_every_brain() -> None:
    settings = main.load_settings()
    reader = main.ocr_reader(settings)
    engine = main.build_engine(settings, reader)
    brains = main.build_brains(settings, reader)
    assert isinstance(engine, OcrTextEngine) and engine.reader is reader
    assert {id(getattr(brain, "ocr", None)) for brain in brains.values()} == {id(reader)}
    assert not reader.loaded  # the OCR model loads on the first photo, not at start


@pytest.mark.slow
def test_chat_answers_a_text_and_a_photo_question(tmp_path: Path) -> None:
    lines = (
        "\n".join(
            [
                "Hello! Do you ship to Shanghai?",
                f"/image {SCREENSHOT} What is the order number in this screenshot?",
                f"/export {tmp_path / 'chat.json'}",
                "/quit",
            ]
        )
        + "\n"
    )
    result = subprocess.run(
        [sys.executable, "main.py", "chat"],
        input=lines,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(tmp_path, KEFU_BOT__CUSTOMER="basic", KEFU_BOT__STAFF="basic"),
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answers = [line for line in result.stdout.splitlines() if line.startswith(("bot>", "> bot>"))]
    assert len(answers) >= 2, result.stdout
    assert "ready" in result.stderr  # model loading progress is shown
    exported = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))
    bot_turns = [t["text"] for t in exported["turns"] if t["role"] == "bot"]
    assert len(bot_turns) == 2 and all(len(t.strip()) > 3 for t in bot_turns)
    assert exported["decisions"][0]["confidence"] is not None
    photo_turn = exported["turns"][2]
    assert photo_turn["parts"][0]["type"] == "image"


@pytest.fixture
def core_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "main.py", "core", "--port", str(port)],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    async def wait_ready() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(1200):
                if process.poll() is not None:
                    raise RuntimeError(
                        process.stderr.read().decode() if process.stderr else "exited"
                    )
                try:
                    if (await session.get(f"{url}/readyz")).status == 200:
                        return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            raise TimeoutError("core service did not become ready")

    try:
        asyncio.run(wait_ready())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
async def test_openai_client_gets_real_answers_to_text_and_photo(core_server: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{core_server}/v1", api_key="unused", max_retries=0)
    text = await client.chat.completions.create(
        model="kefu",
        max_tokens=40,
        logprobs=True,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    # What the 135M model says depends on the engine's numerics (llama.cpp's 4-bit kernels
    # by default); the answer's quality is measured by bench.eval. Here: a real answer with
    # one logprob per generated token.
    assert (text.choices[0].message.content or "").strip()
    assert text.choices[0].logprobs is not None and text.choices[0].logprobs.content
    assert text.usage is not None
    assert len(text.choices[0].logprobs.content) == text.usage.completion_tokens
    assert all(item.logprob <= 0 for item in text.choices[0].logprobs.content)
    image_uri = "data:image/png;base64," + base64.b64encode(SCREENSHOT.read_bytes()).decode()
    stream = await client.chat.completions.create(
        model="kefu",
        max_tokens=40,
        stream=True,
        logprobs=True,
        stream_options={"include_usage": True},
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is the order number in this photo?"},
                    {"type": "image_url", "image_url": {"url": image_uri}},
                ],
            }
        ],
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        usage = chunk.usage or usage
    answer = "".join(pieces)
    assert answer.strip()
    # The OCR text of the screenshot (fenced, untrusted) is what made the prompt this long.
    assert usage is not None and usage.prompt_tokens > 100


@pytest.mark.slow
async def test_serve_answers_a_signed_webhook_with_the_shop_bot(tmp_path: Path) -> None:
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(b"kefu-serve-test-secret-0123456789").decode()
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "main.py",
        "serve",
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=_env(
            tmp_path, KEFU_SERVICE__PORT=str(port), KEFU_WEBHOOK__SOURCES__DEMO__SECRET=secret
        ),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(1200):
                try:
                    if (await session.get(f"{url}/readyz")).status == 200:
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            body = json.dumps(
                {
                    "conversation_id": "c-1",
                    "user": {"id": "cust-1", "name": "Li"},
                    "text": "How much is the canvas tote bag?",
                }
            )
            headers = {
                "webhook-id": "msg_serve_1",
                "webhook-timestamp": str(int(__import__("time").time())),
            }
            headers["webhook-signature"] = Webhook(secret).sign(
                headers["webhook-id"],
                __import__("datetime").datetime.fromtimestamp(
                    int(headers["webhook-timestamp"]), tz=__import__("datetime").UTC
                ),
                body,
            )
            response = await session.post(
                f"{url}/webhooks/demo?wait=true",
                data=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            result = await response.json()
            assert response.status == 200, result
            texts = " ".join(r["text"] for r in result["replies"])
            assert "¥129.00" in texts  # the shop's price tool, not the model, states prices
            assert (await session.get(f"{url}/openapi.json")).status == 200
    finally:
        process.terminate()
        await process.wait()


def test_feedback_export_writes_eval_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from bench.eval.cases import load_cases
    from core.answering.answer import Answerer
    from core.answering.prompt_brain import PromptBrain
    from core.engines.stub import StubEngine
    from core.model.feedback import FeedbackEntry, Rating
    from core.model.turn import Role, Sender
    from core.store.feedback import FeedbackLog
    from core.store.store import Store
    from tests.conftest import make_turn
    from tests.handoff.helpers import answer_next

    url = f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"

    async def rate() -> None:
        store = await Store.open(url)
        brain = PromptBrain()
        answerer = Answerer(store, StubEngine(lambda _r: "It costs ¥129.00."),
                            {Role.CUSTOMER: brain, Role.STAFF: brain})  # fmt: skip
        turn = make_turn("how much is the tote?", chat="D1", platform="slack", role=Role.STAFF)
        await answer_next(store, answerer, turn)
        rated = await store._find_inbox("slack", turn.message_id)
        assert rated is not None
        sender = Sender("U1", "alice", Role.STAFF)
        await FeedbackLog(store).add(FeedbackEntry(rated, Rating.UP, sender, "slack", "c1"))
        await store.close()

    asyncio.run(rate())
    monkeypatch.setenv("KEFU_STORE__URL", url)
    out = tmp_path / "cases.yaml"
    today = datetime.now(UTC).date().isoformat()
    assert main.main(["feedback", "export", str(out), "--since", today, "--until", today]) == 0
    assert "1 case(s), 0 skipped" in capsys.readouterr().out
    (case,) = load_cases(out).cases
    assert case.expect_facts == ("¥129.00",)
    assert main.main(["feedback", "export", str(tmp_path / "x.yaml"), "--until", "2000-01-01"]) == 0
    assert "no feedback in that period" in capsys.readouterr().out


def test_serve_exits_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(
            tmp_path,
            KEFU_SERVICE__PORT=str(port),
            KEFU_ENGINE__KIND="openai",
            KEFU_ENGINE__BASE_URL="http://127.0.0.1:9/v1",
            KEFU_TELEGRAM__BOT_TOKEN="123456:" + "A" * 35,
            KEFU_TELEGRAM__MODE="webhook",
            KEFU_TELEGRAM__WEBHOOK_URL="https://kefu.example/telegram/webhook",
            KEFU_TELEGRAM__WEBHOOK_SECRET="a-webhook-secret",
            KEFU_TELEGRAM__ALBUM_JOURNAL_PATH=str(tmp_path / "albums.db"),
        )
        done = subprocess.run(
            [sys.executable, "main.py", "serve"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_errors_are_reported_without_a_traceback(tmp_path: Path) -> None:
    for extra in (
        {"KEFU_CONFIG": str(tmp_path / "missing.yaml")},
        {"KEFU_WORKER__DELIVERY_RETRY_SCHEDULE_S": "not json"},
        {"KEFU_SERVICE__PROT": "1"},
    ):
        done = subprocess.run(
            [sys.executable, "main.py", "export", "terminal|x|"],
            cwd=ROOT, env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, (extra, done.stderr[-1500:])
        assert "Traceback" not in done.stderr and done.stderr.startswith("kefu: "), extra
