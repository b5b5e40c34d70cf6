"""Kill -9 under mixed load, replicas, duplicates counted (issue 12).

    python -m bench.fault_suite [--conversations 500] [--kills 3] [--store sqlite|postgres|both]

Runs tests/fault_suite.py: Telegram, Slack and webhook traffic (text, photos, albums,
repeats) into ``serve`` replicas behind a load balancer, with SIGKILL at ``--kills`` points
(about 2 messages per conversation). SQLite runs one replica (killed and restarted);
PostgreSQL runs two sharing one database. Prints what the store and the platforms saw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from tests.conftest import PG_ADMIN_DSN, _create_pg_database, _drop_pg_database
from tests.fault_suite import run_suite


async def _one(kind: str, conversations: int, kills: int) -> None:
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="kefu-bench-faults-")
        url, replicas, name = f"sqlite:///{Path(folder) / 'kefu.db'}", 1, None
    else:
        name = await _create_pg_database()
        assert name is not None, f"PostgreSQL unreachable at {PG_ADMIN_DSN}"
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url, replicas = f"{base}/{name}", 2
    try:
        r = await run_suite(url, replicas=replicas, conversations=conversations, kills=kills,
                            timeout_s=600)  # fmt: skip
    finally:
        if name:
            await _drop_pg_database(name)
    t, s = r.tally, r.store
    print(f"## {kind}: {replicas} replica(s), {r.messages} messages, {r.kills} kill -9, "
          f"{r.seconds:.0f} s, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"store: {s.inbox_turns} turns stored, {s.inbox_not_done} not done, "
          f"{s.turns_without_exactly_one_reply} without exactly one reply, "
          f"{s.outbox_not_delivered} replies undelivered")  # fmt: skip
    print(f"platforms: {t.answered_once} answered exactly once, {t.duplicates} duplicate "
          f"replies, {t.lost} without their reply, {len(t.out_of_order)} out of order")  # fmt: skip
    print(f"requests {r.requests}, balancer fail-overs {r.failovers}; problems: {r.problems}")
    for outcome in t.outcomes:
        if outcome.replies != 1:
            print(f"  {outcome.replies} replies: {outcome.message.platform} "
                  f"{outcome.message.conversation} {outcome.message.label}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    for kind in kinds:
        asyncio.run(_one(kind, args.conversations, args.kills))


if __name__ == "__main__":
    main()
