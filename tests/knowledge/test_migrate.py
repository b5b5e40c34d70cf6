"""Format 1 -> format 2: the old demo shop migrates to what the hand-migrated demo holds."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.knowledge.loader import load_knowledge
from core.knowledge.migrate import migrate
from core.knowledge.model import Knowledge
from core.knowledge.pricing import quote

OLD = Path(__file__).resolve().parents[1] / "data" / "knowledge_format1"  # the demo before format 2


def _offer(knowledge: Knowledge) -> list[tuple[str, str, str, int, str]]:
    return [
        (p.sku, v.sku, str(p.regular_price(v)), v.stock, v.label.en)
        for p in knowledge.products
        for v in p.variants
    ]


def test_the_old_demo_migrates_to_the_current_demo(
    tmp_path: Path, demo_knowledge: Knowledge
) -> None:
    notes = migrate(OLD, tmp_path / "new")
    migrated = load_knowledge(tmp_path / "new")
    assert _offer(migrated) == _offer(demo_knowledge)
    assert [(o.order_no, [(i.sku, i.quantity) for i in o.items]) for o in migrated.orders] == [
        (o.order_no, [(i.sku, i.quantity) for i in o.items]) for o in demo_knowledge.orders
    ]
    day = date(2026, 11, 28)
    for product in demo_knowledge.products:
        old = migrated.product(product.sku)
        assert old is not None
        assert (
            quote([(old, 2)], migrated.promotions, day).total
            == quote([(product, 2)], demo_knowledge.promotions, day).total
        )
    # sizes sold in several colours: the first colour is chosen, and said so
    assert any("TS-1001 size M exists in several colours; TS-1001-M-WHITE" in n for n in notes)


def test_a_format_two_folder_is_not_migrated_again(tmp_path: Path) -> None:
    migrate(OLD, tmp_path / "new")
    with pytest.raises(ConfigError, match="not a format-1 knowledge folder"):
        migrate(tmp_path / "new", tmp_path / "again")


def test_the_target_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        migrate(OLD, tmp_path / "new")


def test_loading_format_one_names_the_migration() -> None:
    with pytest.raises(ConfigError, match=r"format 1 .*knowledge migrate"):
        load_knowledge(OLD)
