"""Kill -9 under mixed load, replicas, duplicates counted (issue 12).

    python -m bench.fault_suite [--conversations 500] [--kills 3] [--store sqlite|postgres|both]
                                [--replicas N] [--netns] [--album-debounce S]
                                [--sends-in-flight N] [--slack-file-delay S]

Runs tests/fault_suite.py: Telegram, Slack and webhook traffic (text, photos, albums,
repeats) into ``serve`` replicas behind a load balancer, with SIGKILL at ``--kills`` points
(about 2 messages per conversation). SQLite runs one replica (killed and restarted);
PostgreSQL runs ``--replicas`` (2) sharing one database; with ``--netns`` each PostgreSQL
replica runs in its own network namespace joined by veth (``tests/netns.py``, needs root).
``--slack-file-delay 4`` serves every Slack file later than the 2.8 s acknowledgement
budget (what a starved machine does to some of them), so every Slack photo takes the
fetch-after-the-ack path (``adapters/slack/deferred.py``). Prints what the store and the
platforms saw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from tests.conftest import PG_ADMIN_DSN, _create_pg_database, _drop_pg_database
from tests.fault_suite import ALBUM_DEBOUNCE_S, run_suite


async def _one(
    kind: str,
    conversations: int,
    kills: int,
    replicas: int,
    netns: bool,
    debounce_s: float,
    sends_in_flight: int | None,
    slack_file_delay_s: float = 0.0,
) -> None:
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="kefu-bench-faults-")
        url, replicas, name = f"sqlite:///{Path(folder) / 'kefu.db'}", 1, None
    else:
        name = await _create_pg_database()
        assert name is not None, f"PostgreSQL unreachable at {PG_ADMIN_DSN}"
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{base}/{name}"
    netns = netns and kind == "postgres"
    try:
        r = await run_suite(url, replicas=replicas, conversations=conversations, kills=kills,
                            timeout_s=600, netns=netns, album_debounce_s=debounce_s,
                            telegram_sends_in_flight=sends_in_flight,
                            slack_file_delay_s=slack_file_delay_s)  # fmt: skip
    finally:
        if name:
            await _drop_pg_database(name)
    t, s = r.tally, r.store
    where = " (each in its own network namespace)" if netns else ""
    in_flight = sends_in_flight or "default"
    print(f"## {kind}: {replicas} replica(s){where}, album debounce {debounce_s} s, "
          f"telegram sends in flight {in_flight}, slack file delay {slack_file_delay_s} s, "
          f"{r.messages} messages, {r.kills} kill -9, "
          f"{r.seconds:.0f} s, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"store: {s.inbox_turns} turns stored, {s.inbox_not_done} not done, "
          f"{s.turns_without_exactly_one_reply} without exactly one reply, "
          f"{s.outbox_not_delivered} replies undelivered")  # fmt: skip
    print(f"platforms: {t.answered_once} answered exactly once, {t.duplicates} duplicate "
          f"replies ({t.duplicates / max(1, r.kills):.1f} per kill), {t.lost} without their "
          f"reply, {len(t.out_of_order)} out of order; {len(t.split)} albums answered in parts "
          f"(every photo answered, {t.split_parts} extra replies)")  # fmt: skip
    extra: dict[str, int] = {}
    for outcome in t.outcomes:
        platform = outcome.message.platform
        extra[platform] = extra.get(platform, 0) + max(0, outcome.replies - 1)
    print(f"extra copies by platform: {extra}")
    print(f"requests {r.requests}, balancer fail-overs {r.failovers}; problems: {r.problems}")
    for stray in t.unexpected[:40]:
        print(f"  stray reply: {stray}")
    for outcome in t.outcomes:
        if outcome.replies != 1:
            parts = " (in parts)" if outcome.message.label in t.split else ""
            print(f"  {outcome.replies} replies{parts}: {outcome.message.platform} "
                  f"{outcome.message.conversation} {outcome.message.label}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--replicas", type=int, default=2, help="PostgreSQL replicas")
    parser.add_argument("--netns", action="store_true", help="replicas on separate hosts")
    parser.add_argument(
        "--album-debounce",
        type=float,
        default=ALBUM_DEBOUNCE_S,
        help="telegram.album_debounce_s of the replicas (kefu's default: 1.5)",
    )
    parser.add_argument(
        "--sends-in-flight",
        type=int,
        default=None,
        help="telegram.max_sends_in_flight of the replicas (default: kefu's)",
    )
    parser.add_argument(
        "--slack-file-delay",
        type=float,
        default=0.0,
        help="seconds the fake Slack takes to serve each file (over 2.8: all late)",
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    for kind in kinds:
        replicas = 1 if kind == "sqlite" else args.replicas
        asyncio.run(_one(kind, args.conversations, args.kills, replicas, args.netns,
                         args.album_debounce, args.sends_in_flight,
                         args.slack_file_delay))  # fmt: skip


if __name__ == "__main__":
    main()
