"""Headless Chromium for the page tests: Debian's ``chromium`` driven by Playwright.

No browser is downloaded: Playwright launches the system's Chromium
(``KEFU_CHROMIUM``, default ``/usr/bin/chromium``; ``scripts/setup.sh --dev`` installs it).
Without it the tests are skipped, except on CI (``CI=true``), where they fail.
Screenshots go to ``KEFU_SCREENSHOTS`` when set (``docs/screenshots`` for the README),
else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium")


def chromium_or_skip() -> str:
    """The Chromium executable; skips (fails on CI) when it or Playwright is missing."""
    missing = []
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing.append(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright is not installed (pip install -e '.[dev]')")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium (Playwright's async API)."""
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


def screenshot_path(name: str, fallback: Path) -> Path:
    folder = Path(os.environ.get("KEFU_SCREENSHOTS") or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
