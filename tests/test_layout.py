"""The layout rule: core/ imports no platform library (Telegram, Slack)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib, pkgutil, sys
import core
for module in pkgutil.walk_packages(core.__path__, "core."):
    if ".migrations" not in module.name:
        importlib.import_module(module.name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("telegram", "slack_sdk", "slack_bolt")
                or m.startswith(("adapters.telegram", "adapters.slack")))
print(",".join(loaded))
"""


def test_core_imports_no_platform_library() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)  # fmt: skip
    assert result.stdout.strip() == "", f"core pulled in: {result.stdout.strip()}"
