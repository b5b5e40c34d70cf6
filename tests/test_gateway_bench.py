"""The gateway benchmark runs end to end (a tiny load) and its store check holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mode", [[], ["--split"]])
def test_a_tiny_gateway_run_reports_every_phase_and_a_clean_store(
    mode: list[str], tmp_path: Path
) -> None:
    report = tmp_path / "gateway.md"
    command = [sys.executable, "-m", "bench.gateway", "--requests", "150",
               "--bare-requests", "300", "--senders", "20", "--rates", "50",
               "--rate-seconds", "0.4", "--flat-rounds", "2", "--sustained-rate", "100",
               "--sustained-seconds", "0.5", "--markdown", str(report), *mode]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    text = report.read_text()
    for phase in ("warm-up", "paced 50/s", "flat out 1", "flat out 2"):
        assert f"| kefu | {phase} |" in text and f"| bare | {phase} |" in text
    assert "Store check: **OK**" in text
    assert "round by round" in text and "turns/s" in text
    assert "| kefu | sustained 100/s | 50 | 50 |" in text
    assert "End to end, sustained 100/s" in text and "turns still open" in text
