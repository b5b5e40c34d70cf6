"""Knowledge of the evaluation shops, loaded once for the reading tests (read-only)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from core.knowledge.base import KnowledgeBase

ROOT = Path(__file__).resolve().parents[2]


@cache
def shop(name: str) -> KnowledgeBase:
    """``demo``, ``electronics`` or ``food``."""
    folder = ROOT / (
        "bots/shop/knowledge" if name == "demo" else f"bench/eval/shops/{name}/knowledge"
    )
    return KnowledgeBase.load(folder)
