"""``knowledge check``: errors with file and line, warnings on the given day, exit codes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from core.knowledge.check import check_folder

ROOT = Path(__file__).resolve().parents[2]
SHOPS = ROOT / "bench" / "eval" / "shops"


def test_the_evaluation_shops_have_no_problems_on_their_dates() -> None:
    food = check_folder(SHOPS / "food" / "knowledge", date(2026, 9, 20))
    assert food.ok and len(food.warnings) == 1
    assert (
        "catalog.yaml:161: products[8]: warning: MC-HAM4 is sold out with no restock date"
        in food.warnings[0]
    )
    electronics = check_folder(SHOPS / "electronics" / "knowledge", date(2026, 6, 20))
    assert electronics.ok and electronics.warnings == ()
    assert "19 products (43 variants)" in electronics.summary


def test_a_passed_restock_date_is_a_warning() -> None:
    report = check_folder(SHOPS / "electronics" / "knowledge", date(2026, 12, 3))
    assert [w.split(": warning: ")[1] for w in report.warnings] == [
        "VOLTPACK-20000 is sold out and its restock date 2026-07-05 has passed"
    ]


def test_errors_fail_the_check(mini_folder: Callable[..., Path]) -> None:
    from tests.knowledge.conftest import MINI_FILES

    bad = MINI_FILES["catalog.yaml"].replace("price: 99.00", "pirce: 99.00")
    report = check_folder(mini_folder(catalog_yaml=bad), date(2026, 11, 1))
    assert not report.ok
    assert any(
        "catalog.yaml:16: products[1].pirce: Extra inputs are not permitted" in e
        for e in report.errors
    )


def test_the_command_is_fast_and_loads_no_model_or_store() -> None:
    probe = (
        "import sys, runpy; sys.argv = ['main.py', 'knowledge', 'check', sys.argv[1], '--date', '2026-09-20']\n"
        "try:\n    runpy.run_path('main.py', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'sqlalchemy', 'aiohttp')"
        " or m.startswith(('core.engines', 'core.store'))]\n"
        "    print('HEAVY', heavy, 'RC', exit.code)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", probe, str(SHOPS / "food" / "knowledge")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert "HEAVY [] RC 0" in done.stdout, done.stdout + done.stderr
    assert "no problems, 1 warning(s)" in done.stdout
    assert elapsed < 10  # the brief's budget is 2 s; a loaded shared CI host gets slack
