"""Shared fixtures: the demo shop (loaded once) and small knowledge folders to break."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.knowledge.base import KnowledgeBase
from core.knowledge.loader import load_knowledge
from core.knowledge.model import Knowledge

DEMO = Path(__file__).resolve().parents[2] / "bots" / "shop" / "knowledge"

MINI_FILES = {
    "shop.yaml": "format: 2\nname: {zh: 测试店, en: Test Shop}\ncurrency: CNY\n"
    "orders:\n  number_pattern: 'SO\\d{8}-\\d{4}'\n  number_example: SO20260101-0001\n",
    "catalog.yaml": """categories:
  outerwear: {zh: 外套, en: Outerwear}
  tops: {zh: 上衣, en: Tops}
products:
  - sku: JK-1
    name: {zh: 防风夹克, en: Windbreaker}
    category: outerwear
    price: 299.00
    options: [size]
    variants:
      - {size: M, sku: JK-1-M, stock: 3}
      - {size: L, sku: JK-1-L, stock: 0}
  - sku: TS-1
    name: {zh: 圆领T恤, en: Crew Tee}
    category: tops
    price: 99.00
    stock: 5
""",
    "promotions.yaml": """promotions:
  - id: WINTER
    name: {zh: 冬季外套节, en: Winter Event}
    kind: percent_off
    percent: 20
    categories: [outerwear]
    starts: 2026-11-15
    ends: 2026-11-30
""",
    "faq.yaml": """faq:
  - id: pay
    question: {zh: 支持哪些支付方式？, en: "Which payment methods?"}
    answer: {zh: 支持支付宝和微信支付。, en: "Alipay and WeChat Pay."}
""",
    "orders.yaml": """customers:
  - {id: C1, name: Li, identities: {telegram: "0042"}}
  - {id: C2, name: Anna, identities: {telegram: "7"}}
orders:
  - order_no: SO20261102-0042
    customer: C1
    items:
      - {sku: JK-1-M, quantity: 1, unit_price: 299.00}
    status: shipped
    placed: 2026-11-02
    shipped: 2026-11-03
    carrier: SF Express
    tracking: SF1234567890123
    total: 299.00
""",
    "policies/returns.md": "# Returns · 退货\n\n## Return window · 退货期限\n\nReturns within 7 days.\n\n签收后7天内可退货。\n",
}


@pytest.fixture(scope="session")
def demo_knowledge() -> Knowledge:
    return load_knowledge(DEMO)


@pytest.fixture(scope="session")
def demo_base() -> KnowledgeBase:
    return KnowledgeBase.load(DEMO)


@pytest.fixture
def mini_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write the small valid folder, with some files replaced (``None`` deletes a file)."""

    def write(**replacements: str | None) -> Path:
        files = dict(MINI_FILES)
        for name, text in replacements.items():
            files[name.replace("__", "/").replace("_yaml", ".yaml").replace("_md", ".md")] = text
        for name, text in files.items():
            if text is None:
                continue
            path = tmp_path / "knowledge" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return tmp_path / "knowledge"

    return write
