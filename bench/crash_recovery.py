"""Kill -9 a worker with 50 messages in the inbox, restart it, and show what was answered.

    python -m bench.crash_recovery [--store-url URL]

Defaults to a fresh SQLite file; pass a ``postgresql+asyncpg://`` URL to run on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from tests.test_crash_recovery import kill_and_recover


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store-url")
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store_url or f"sqlite+aiosqlite:///{Path(tmp) / 'kefu.db'}"
        result = asyncio.run(kill_and_recover(url, Path(tmp) / "deliveries.jsonl", args.messages))
    print(json.dumps(result, indent=2))
    ok = (
        result["all_turns"]
        and result["max_deliveries_per_turn"] == 1
        and result["outbox_rows_per_turn"] == [1]
    )
    print("every message answered exactly once:", "YES" if ok else "NO")


if __name__ == "__main__":
    main()
