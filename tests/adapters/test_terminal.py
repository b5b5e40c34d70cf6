"""The terminal adapter and ``main.py chat`` loop, through the full pipeline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from adapters.terminal.adapter import TerminalAdapter, parse_line
from adapters.terminal.chat import chat_turn
from core.engines.stub import StubEngine
from core.errors import ImageError, InvalidInputError
from core.store.export import export_conversation
from tests.harness import KefuHarness

DATA = Path(__file__).resolve().parent.parent / "data"


def test_parse_line() -> None:
    assert parse_line("/image a.png what is this?").image_path == Path("a.png")
    assert parse_line("/image a.png what is this?").text == "what is this?"
    assert parse_line("/reset").command == "reset"
    assert parse_line(" hello ").text == "hello"
    with pytest.raises(InvalidInputError):
        parse_line("/image")


async def test_chat_streams_answers_and_reads_photos() -> None:
    out = io.StringIO()
    holder: dict[str, TerminalAdapter] = {}

    def make(context):  # type: ignore[no-untyped-def]
        holder["t"] = TerminalAdapter(context, out=out)
        return holder["t"]

    async with KefuHarness(
        engine=StubEngine(token_delay_s=0.001), adapters={"terminal": make}
    ) as kefu:
        assert kefu.store is not None
        adapter = holder["t"]
        await chat_turn(adapter, kefu.store, "Do you ship to Shanghai?")
        await chat_turn(
            adapter, kefu.store, f"/image {DATA / 'order_screenshot.png'} When will this ship?"
        )
        with pytest.raises(ImageError):
            await chat_turn(adapter, kefu.store, f"/image {DATA / 'missing.png'} hm")
        await chat_turn(adapter, kefu.store, "/human")
        await chat_turn(adapter, kefu.store, "hello?")
        exported = await export_conversation(kefu.store, adapter.key)
    text = out.getvalue()
    assert "bot> Echo: Do you ship to Shanghai?" in text
    assert "Echo: When will this ship? [1 image(s)]" in text
    assert "conversation is with a person now" in text
    assert [t["text"] for t in exported["turns"] if t["role"] == "customer"][:2] == [
        "Do you ship to Shanghai?",
        "When will this ship?",
    ]
    assert exported["handoffs"][0]["status"] == "open"
    assert {d["kind"] for d in exported["decisions"]} >= {"answer", "handoff"}
    json.dumps(exported)  # JSON-ready
