"""One customer's flood (issue 12, finding 6): 200 messages in 10 s must not slow the other
customers' replies.

    python -m bench.flood [--flood 200] [--flood-seconds 10] [--others 40] [--rate 4]

The whole runtime (store, worker, limits, dispatcher; ``tests/harness.KefuHarness``) on a
durable SQLite store, a stub engine that writes its answer token by token (10 ms a token),
and kefu's default per-customer limit (20 answers a minute, 8 saved up). ``--others``
customers send ``--rate`` messages a second between them for 20 s; in the second run one
more customer sends ``--flood`` messages in ``--flood-seconds`` from second 5. A reply's
latency is from its message's commit to the inbox to its delivery (the store's own times).
Prints the other customers' p50/p95/max with and without the flood, and what the flooding
customer got.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from adapters.terminal.adapter import TerminalAdapter
from core.engines.stub import StubEngine
from core.runtime.limits import Limits, MemoryLimiter
from core.store.schema import outbox, turns
from core.store.store import Store
from core.texts import text
from tests.conftest import make_turn
from tests.harness import KefuHarness

FLOODER = "flooder"
SECONDS = 20.0


def _terminal(context):  # type: ignore[no-untyped-def]
    return TerminalAdapter(context, out=io.StringIO())


async def _send(store: Store, chat: str, count: int, seconds: float, start_s: float) -> None:
    await asyncio.sleep(start_s)
    for n in range(count):
        await store.put(make_turn(f"{chat} message {n}", chat=chat, platform="terminal"))
        await asyncio.sleep(seconds / count)


async def _others(store: Store, customers: int, rate: float) -> None:
    for n in range(int(SECONDS * rate)):
        chat = f"customer-{n % customers}"
        await store.put(make_turn(f"{chat} message {n}", chat=chat, platform="terminal"))
        await asyncio.sleep(1 / rate)


async def _replies(store: Store) -> list[Any]:
    query = (
        select(turns.c.text, outbox.c.payload, turns.c.stored_at, outbox.c.delivered_at)
        .join(turns, turns.c.id == outbox.c.turn_id)
        .where(outbox.c.status == "delivered")
    )
    return list(await store.db.read(lambda conn: conn.execute(query).all()))


async def _run(args: argparse.Namespace, flood: bool) -> tuple[list[float], list[str], int]:
    engine = StubEngine(token_delay_s=0.01)
    limiter = MemoryLimiter(Limits())
    async with KefuHarness(
        engine=engine, adapters={"terminal": _terminal}, limiter=limiter
    ) as kefu:
        assert kefu.store is not None
        senders = [_others(kefu.store, args.others, args.rate)]
        if flood:
            senders.append(_send(kefu.store, FLOODER, args.flood, args.flood_seconds, 5.0))
        await asyncio.gather(*senders)
        await kefu.wait_until_idle(120)
        rows = await _replies(kefu.store)
        done = (await kefu.store.counts()).get("inbox.done", 0)
    others = [(r.delivered_at - r.stored_at).total_seconds() for r in rows
              if not r.text.startswith(FLOODER)]  # fmt: skip
    flooded = [r.payload["text"] for r in rows if r.text.startswith(FLOODER)]
    return others, flooded, done


def _p95(values: Sequence[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def _summary(latencies: list[float]) -> str:
    return (f"{len(latencies)} replies: p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {_p95(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood", type=int, default=200)
    parser.add_argument("--flood-seconds", type=float, default=10)
    parser.add_argument("--others", type=int, default=40)
    parser.add_argument("--rate", type=float, default=4)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    base, _, base_done = asyncio.run(_run(args, flood=False))
    flooded, flood_replies, done = asyncio.run(_run(args, flood=True))
    print(f"no flood:                 {_summary(base)} ({base_done} messages done)")
    print(f"{args.flood} messages in {args.flood_seconds:.0f} s: {_summary(flooded)} "
          f"({done} messages done)")  # fmt: skip
    change = 100 * (_p95(flooded) - _p95(base)) / _p95(base)
    print(f"other customers' p95 changed by {change:+.1f} %")
    notices = flood_replies.count(text("rate_limited"))
    answered = sum(len(r.splitlines()) for r in flood_replies if r != text("rate_limited"))
    print(f"the flooding customer: {len(flood_replies)} replies ({notices} notice(s)), "
          f"answering {answered} of {args.flood} messages")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
