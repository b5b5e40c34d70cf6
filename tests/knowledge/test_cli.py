"""``main.py knowledge check|import|migrate`` through main's own parser."""

from __future__ import annotations

from pathlib import Path

import pytest

import main

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "bench" / "eval" / "shops" / "electronics"


def test_check_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main.main(["knowledge", "check", str(SHOP / "knowledge"), "--date", "2026-06-20"]) == 0
    assert "no problems, 0 warning(s)" in capsys.readouterr().out
    assert main.main(["knowledge", "check", str(tmp_path)]) == 1
    assert "catalog.yaml:1: required file is missing" in capsys.readouterr().out


def test_import_writes_the_catalog_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    csv = SHOP / "source" / "products.csv"
    assert main.main(["knowledge", "import", "shopify", str(csv), "--language", "en"]) == 0
    assert capsys.readouterr().out == (SHOP / "knowledge" / "catalog.yaml").read_text("utf-8")


def test_import_problem_exits_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("Handle\nx\n", encoding="utf-8")
    assert main.main(["knowledge", "import", "woocommerce", str(csv)]) == 1
    assert "missing column(s): ID, Type" in capsys.readouterr().err


def test_migrate_prints_notes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = ROOT / "tests" / "data" / "knowledge_format1"
    assert main.main(["knowledge", "migrate", str(old), str(tmp_path / "new")]) == 0
    out = capsys.readouterr().out
    assert "note: order SO20261102-0042" in out and "written as format 2" in out
