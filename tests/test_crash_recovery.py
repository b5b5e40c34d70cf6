"""Kill -9 a worker while 50 turns are in the inbox; after a restart each is answered once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from core.store.schema import outbox
from core.store.store import Store
from tests.conftest import make_turn

ROOT = Path(__file__).resolve().parent.parent


async def _start_worker(url: str, log: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash_worker",
        url,
        str(log),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"ready"
    return process


def _deliveries(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


async def kill_and_recover(url: str, log: Path, messages: int = 50) -> dict[str, object]:
    """Run the scenario; returns what happened (also used by bench/crash_recovery.py)."""
    store = await Store.open(url)
    turn_ids = [
        (await store.put(make_turn(f"question {i}", chat=f"c{i % 10}", platform="sink"))).turn_id
        for i in range(messages)
    ]
    first = await _start_worker(url, log)
    async with asyncio.timeout(60):
        while len(_deliveries(log)) < messages // 5:
            await asyncio.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    before_restart = len(_deliveries(log))
    second = await _start_worker(url, log)
    async with asyncio.timeout(120):
        while len({d["turn_id"] for d in _deliveries(log)}) < messages:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # let any wrongful duplicate show up
    second.send_signal(signal.SIGTERM)
    await second.wait()
    per_turn = select(outbox.c.turn_id, func.count()).group_by(outbox.c.turn_id)
    rows_per_turn = dict(await store.db.read(lambda conn: conn.execute(per_turn).all()))
    counts = await store.counts()
    await store.close()
    deliveries = _deliveries(log)
    # The sink dedupes on the outbox id, as a Standard Webhooks receiver dedupes on webhook-id:
    # a row whose send was cut off by the kill (sent, not yet marked) is sent again.
    unique = {d["outbox_id"]: d for d in deliveries}
    per_turn = Counter(d["turn_id"] for d in unique.values())
    return {
        "messages": messages,
        "delivered_before_kill": before_restart,
        "killed_pid": first.pid,
        "deliveries": len(deliveries),
        "resent_after_kill": len(deliveries) - len(unique),
        "turns_answered": len(per_turn),
        "max_deliveries_per_turn": max(per_turn.values()),
        "outbox_rows_per_turn": sorted(set(rows_per_turn.values())),
        "all_turns": sorted(per_turn) == sorted(turn_ids),
        "inbox_done": counts.get("inbox.done", 0),
        "answered_by_second_process": sum(1 for d in deliveries if d["pid"] == second.pid),
    }


async def test_kill_9_then_restart_answers_every_message_exactly_once(
    store_url: str, tmp_path: Path
) -> None:
    result = await kill_and_recover(store_url, tmp_path / "deliveries.jsonl")
    assert result["all_turns"] and result["turns_answered"] == 50
    assert result["max_deliveries_per_turn"] == 1  # one answer per turn
    assert result["resent_after_kill"] <= result["delivered_before_kill"]
    assert result["outbox_rows_per_turn"] == [1]
    assert result["inbox_done"] == 50
    assert 0 < result["delivered_before_kill"] < 50  # the kill really hit mid-run
    assert result["answered_by_second_process"] > 0
