"""How long ``python main.py knowledge check`` takes, as a shop owner runs it (issue 10).

Each run is a fresh process (interpreter start, imports, reading and validating every file of
the folder, warnings, the summary), for the demo shop and both evaluation shops. It also
checks that nothing of the engines, the store, torch or aiohttp was imported on that path.

Run:
    .venv/bin/python -m bench.knowledge_check            # 7 runs per shop
    .venv/bin/python -m bench.knowledge_check --runs 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOPS = {
    "demo": ROOT / "bots" / "shop" / "knowledge",
    "electronics": ROOT / "bench" / "eval" / "shops" / "electronics" / "knowledge",
    "food": ROOT / "bench" / "eval" / "shops" / "food" / "knowledge",
}
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['main.py', 'knowledge', 'check', sys.argv[1]]\n"
    "try:\n    runpy.run_path('main.py', run_name='__main__')\n"
    "except SystemExit as done:\n"
    "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sqlalchemy',"
    " 'aiohttp') or m.startswith(('core.engines', 'core.store')))\n"
    "    print('HEAVY', heavy, 'RC', done.code, file=sys.stderr)\n"
)


def _once(folder: Path, probe: bool) -> tuple[float, str]:
    command = [sys.executable, "-c", PROBE, str(folder)] if probe else [
        sys.executable, "main.py", "knowledge", "check", str(folder)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.stdout.strip().splitlines()[-1] + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    for name, folder in SHOPS.items():
        _, probe = _once(folder, probe=True)
        times = [_once(folder, probe=False)[0] for _ in range(runs)]
        print(
            f"{name:12s} min {min(times):.2f} s  median {statistics.median(times):.2f} s  "
            f"max {max(times):.2f} s  ({runs} runs)\n    {probe.strip()}"
        )


if __name__ == "__main__":
    main()
