"""The terminal adapter and ``main.py chat`` loop, through the full pipeline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from adapters.terminal.adapter import TerminalAdapter, parse_line
from adapters.terminal.chat import chat_turn
from core import texts
from core.engines.stub import StubEngine
from core.errors import ImageError, InvalidInputError
from core.model.turn import Command
from core.store.export import export_conversation
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from tests.handoff.helpers import open_handoff
from tests.harness import KefuHarness

DATA = Path(__file__).resolve().parent.parent / "data"


def test_parse_line() -> None:
    assert parse_line("/image a.png what is this?").image_path == Path("a.png")
    assert parse_line("/image a.png what is this?").text == "what is this?"
    assert parse_line("/reset").command == "reset"
    assert parse_line(" hello ").text == "hello"
    assert (parse_line("/foo bar").command, parse_line("/foo bar").command_arg) == (
        Command.UNKNOWN,
        "foo",
    )
    assert parse_line("/tmp/x.png").command is None  # a path, not a command
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
        await chat_turn(adapter, kefu.store, "/foo")
        exported = await export_conversation(kefu.store, adapter.key)
    text = out.getvalue()
    assert "bot> Echo: Do you ship to Shanghai?" in text
    assert "Echo: When will this ship? [1 image(s)]" in text
    # No staff desk in a terminal chat: the customer is told how to go on, the bot stays.
    assert texts.text("handoff_unavailable_no_contact", "en") in text
    assert "bot> Echo: hello?" in text
    assert texts.text("unknown_command", "en").format(command="foo") in text
    assert "conversation is with a person now" not in text
    assert [t["text"] for t in exported["turns"] if t["role"] == "customer"][:2] == [
        "Do you ship to Shanghai?",
        "When will this ship?",
    ]
    assert exported["handoffs"] == [] and exported["conversation"]["state"] == "bot"
    assert {d["kind"] for d in exported["decisions"]} >= {"answer", "handoff", "notice"}
    json.dumps(exported)  # JSON-ready


async def test_reset_in_the_chat_gives_a_handed_off_conversation_back_to_the_bot(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"
    store = await Store.open(url)
    record = await open_handoff(store, chat="local", platform="terminal")
    await store.close()
    out = io.StringIO()
    holder: dict[str, TerminalAdapter] = {}

    def make(context):  # type: ignore[no-untyped-def]
        holder["t"] = TerminalAdapter(context, out=out)
        return holder["t"]

    async with KefuHarness(adapters={"terminal": make}, store_url=url) as kefu:
        assert kefu.store is not None
        await chat_turn(holder["t"], kefu.store, "/reset")
        conversation = await kefu.store.conversation(holder["t"].key)
        returned = await HandoffRecords(kefu.store).get(record.id)
        await chat_turn(holder["t"], kefu.store, "anyone there?")
    assert texts.text("reset_done", "en") in out.getvalue()
    assert conversation.state == "bot"
    assert returned is not None and returned.status == "returned"
    assert "bot> Echo: anyone there?" in out.getvalue()
