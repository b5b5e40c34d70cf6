"""The peers' own virtualenv (``.venv-peers/telegram``, made by ``scripts/setup.sh --dev``)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEER_PYTHON = ROOT / ".venv-peers" / "telegram" / "bin" / "python"
AIOGRAM_CHECK = Path(__file__).with_name("aiogram_check.py")


def require_peer() -> Path:
    """The peers' Python; skips (fails in CI) when ``setup.sh --dev`` has not made it."""
    if PEER_PYTHON.exists():
        return PEER_PYTHON
    reason = f"the test peers are not installed at {PEER_PYTHON} (run scripts/setup.sh --dev)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


async def aiogram_check(recorded_file: Path) -> dict[str, Any]:
    """aiogram's verdict on recorded Bot API calls and updates (see aiogram_check.py)."""
    process = await asyncio.create_subprocess_exec(
        str(require_peer()), "-I", str(AIOGRAM_CHECK), str(recorded_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    if process.returncode != 0:
        raise AssertionError(f"aiogram_check failed: {err.decode()[-2000:]}")
    report: dict[str, Any] = json.loads(out)
    return report
