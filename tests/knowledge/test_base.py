"""KnowledgeHolder: a reload swaps only a completely valid folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.knowledge.base import KnowledgeHolder


def test_reload_swaps_on_success_and_keeps_the_old_on_failure(
    mini_folder: Callable[..., Path],
) -> None:
    folder = mini_folder()
    holder = KnowledgeHolder(folder)
    first = holder.current
    assert first.knowledge.product("JK-1").price == 299

    catalog = folder / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("price: 299.00", "price: 199.00"))
    holder.reload()
    assert holder.current is not first
    assert holder.current.knowledge.product("JK-1").price == 199

    working = holder.current
    (folder / "orders.yaml").write_text("orders:\n  - order_no: nonsense\n")
    with pytest.raises(ConfigError, match=r"orders\.yaml"):
        holder.reload()
    assert holder.current is working  # still serving the last good knowledge


def test_invalid_folder_refuses_to_start(mini_folder: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"faq\.yaml:2"):
        KnowledgeHolder(mini_folder(faq_yaml="faq:\n  - id: x\n"))


async def test_reload_async_runs_off_the_loop(mini_folder: Callable[..., Path]) -> None:
    holder = KnowledgeHolder(mini_folder())
    first = holder.current
    fresh = await holder.reload_async()
    assert fresh is holder.current and fresh is not first
