"""Finding 10: the failures-in-a-row counter is durable: it survives a restart and is the
same for every process that answers the conversation."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from core.model.decision import ConversationState
from core.model.turn import ConversationKey
from core.store.store import Store
from tests.conftest import make_turn

ROOT = Path(__file__).resolve().parents[2]


async def _answer_in_a_new_process(url: str, sink: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.runtime.failing_brain_worker", url, str(sink),
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0 and stdout.strip() == b"idle"


async def test_weak_answers_counted_by_two_processes_add_up(store_url: str, tmp_path: Path) -> None:
    sink = tmp_path / "sent.jsonl"
    store = await Store.open(store_url)
    key = ConversationKey("sink", "c1")
    try:
        for round_, process in enumerate(("first", "second"), start=1):
            await store.put(make_turn(f"question from round {round_}", chat="c1", platform="sink"))
            await _answer_in_a_new_process(store_url, sink)  # a process that then exits
            assert (await store.conversation(key)).failures == round_, process
        await store.put(make_turn("one more", chat="c1", platform="sink"))
        await _answer_in_a_new_process(store_url, sink)  # a third process, after two restarts
        conversation = await store.conversation(key)
    finally:
        await store.close()
    sent = [json.loads(line)["text"] for line in sink.read_text().splitlines()]
    assert sent[:2] == ["Echo: question from round 1", "Echo: question from round 2"]
    assert conversation.state is ConversationState.HANDOFF  # 2 weak answers, 2 processes
    assert conversation.failures == 2  # a handoff neither adds nor resets
