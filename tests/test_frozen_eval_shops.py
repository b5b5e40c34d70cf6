"""The evaluation shops' cases are frozen: their files still hash as their README records."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

SHOPS = Path(__file__).resolve().parent.parent / "bench" / "eval" / "shops"
ROW = re.compile(
    r"^\s*\|\s*`?(?P<file>[\w.-]+\.yaml)`?\s*\|\s*`?(?P<sha>[0-9a-f]{64})`?\s*\|", re.M
)


@pytest.mark.parametrize("shop", sorted(p.name for p in SHOPS.iterdir() if p.is_dir()))
def test_case_files_match_the_hashes_recorded_when_they_were_frozen(shop: str) -> None:
    recorded = {m["file"]: m["sha"] for m in ROW.finditer((SHOPS / shop / "README.md").read_text())}
    assert {"cases.yaml", "holdout.yaml"} <= set(recorded), f"{shop}: README records no hashes"
    for name, sha in recorded.items():
        actual = hashlib.sha256((SHOPS / shop / name).read_bytes()).hexdigest()
        assert actual == sha, f"{shop}/{name} changed after it was frozen"
