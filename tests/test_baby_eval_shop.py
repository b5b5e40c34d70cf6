"""The baby & maternity evaluation shop (bench/eval/shops/baby): its catalogue is the
WooCommerce importer's unedited output, its knowledge folder checks clean on its evaluation date,
and both case files load with their photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.eval.cases import load_cases

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "bench" / "eval" / "shops" / "baby"
EVALUATION_DATE = "2026-12-20"


def _kefu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "knowledge", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_catalog_is_the_unedited_woocommerce_import() -> None:
    result = _kefu(
        "import", "woocommerce", "bench/eval/shops/baby/source/wc-product-export.csv",
        "--language", "en",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == (SHOP / "knowledge" / "catalog.yaml").read_text(encoding="utf-8")


def test_the_draft_night_light_is_not_imported() -> None:
    export = (SHOP / "source" / "wc-product-export.csv").read_text(encoding="utf-8")
    catalog = (SHOP / "knowledge" / "catalog.yaml").read_text(encoding="utf-8")
    assert "BB-NIGHTLIGHT" in export
    assert "BB-NIGHTLIGHT" not in catalog


def test_knowledge_checks_clean_on_the_evaluation_date() -> None:
    result = _kefu("check", "bench/eval/shops/baby/knowledge", "--date", EVALUATION_DATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 products (52 variants), 9 promotions, 8 FAQ entries" in result.stdout
    assert "14 policy sections, 12 orders: no problems, 0 warning(s)" in result.stdout


def test_both_case_files_load_on_the_evaluation_date() -> None:
    dev = load_cases(SHOP / "cases.yaml")
    holdout = load_cases(SHOP / "holdout.yaml")
    assert str(dev.date) == str(holdout.date) == EVALUATION_DATE
    assert dev.knowledge == holdout.knowledge == "knowledge"
    assert len(dev.cases) >= 60 and len(holdout.cases) == 15
    assert not {c.id for c in dev.cases} & {c.id for c in holdout.cases}
