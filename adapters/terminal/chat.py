"""The interactive loop of ``main.py chat``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TextIO

from adapters.terminal.adapter import TerminalAdapter
from core.errors import KefuError
from core.runtime.runtime import Runtime
from core.store.export import export_conversation
from core.store.store import Store

HELP = (
    "Type a question. /image PATH [question] sends a photo, /reset clears memory, "
    "/human asks for a person, /export [FILE] saves the conversation as JSON, /quit leaves."
)


async def _read_line(prompt: str) -> str | None:
    loop = asyncio.get_running_loop()

    def read() -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    return await loop.run_in_executor(None, read)


async def chat_turn(
    adapter: TerminalAdapter, store: Store, line: str, timeout: float = 300.0
) -> None:
    """Send one line and wait until it is answered and every reply printed."""
    turn_id = await adapter.send(line)
    async with asyncio.timeout(timeout):
        while not await store.turn_settled(turn_id):
            await asyncio.sleep(0.05)
    if adapter.replies.empty():
        print(
            "(no reply: the conversation is with a person now; the bot stays quiet)",
            file=adapter.out,
            flush=True,
        )
    while not adapter.replies.empty():
        adapter.replies.get_nowait()


async def run_chat(runtime: Runtime, store: Store, adapter: TerminalAdapter) -> None:
    """Talk to the configured bot through the full pipeline (store, worker, outbox).

    Args:
        runtime: A runtime with ``adapter`` as its only platform (not started yet).
        store: The runtime's store; closed when the chat ends.
        adapter: Reads what the owner types and prints the answers.
    """
    out = adapter.out
    await runtime.start()
    print(f"kefu chat ({runtime.engine.model_id}). {HELP}", file=out, flush=True)
    try:
        while (line := await _read_line("> ")) is not None:
            if line.strip() in ("/quit", "/exit"):
                break
            if not line.strip():
                continue
            if line.strip().startswith("/export"):
                await _export(store, adapter, line, out)
                continue
            try:
                await chat_turn(adapter, store, line)
            except (KefuError, TimeoutError) as exc:
                print(f"! {exc}", file=out, flush=True)
    finally:
        await runtime.stop()
        await store.close()


async def _export(store: Store, adapter: TerminalAdapter, line: str, out: TextIO) -> None:
    target = line.strip().removeprefix("/export").strip()
    data = await export_conversation(store, adapter.key)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if target:
        await asyncio.to_thread(Path(target).write_text, text, encoding="utf-8")
        print(f"exported {len(data['turns'])} turns to {target}", file=out, flush=True)
    else:
        print(text, file=out, flush=True)
