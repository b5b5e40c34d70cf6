"""bot.yaml: validated with file and line; the demo bots load."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.knowledge.botconfig import OrdersConfig, load_bot_config
from core.knowledge.orders_http import HttpOrderSource

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bot", ["shop", "staff"])
def test_demo_bots_load(bot: str) -> None:
    config = load_bot_config(ROOT / "bots" / bot / "bot.yaml")
    assert config.name == bot
    assert (
        config.knowledge_dir(ROOT / "bots" / bot).resolve()
        == (ROOT / "bots" / "shop" / "knowledge").resolve()
    )


def test_bad_value_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text("name: x\npersona: {zh: 你好, en: hi}\nhandoff:\n  confidence_threshold: 1.5\n")
    with pytest.raises(ConfigError, match=r"bot.yaml:4: handoff.confidence_threshold"):
        load_bot_config(path)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text("name: x\npersona: {zh: 你好, en: hi}\nretrival: {}\n")
    with pytest.raises(ConfigError, match=r"bot.yaml:3: retrival: Extra inputs"):
        load_bot_config(path)


def test_http_orders_take_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_ORDERS_TOKEN", "secret")
    source = OrdersConfig(
        kind="http", base_url="http://127.0.0.1:1/api", token_env="SHOP_ORDERS_TOKEN"
    ).source()
    assert isinstance(source, HttpOrderSource)
    assert OrdersConfig().source() is None
    with pytest.raises(ConfigError, match="base_url"):
        OrdersConfig(kind="http").source()


def test_the_persona_comes_from_the_knowledge_folder() -> None:
    from bots.shop.brain import load_shop
    from core.knowledge.model import Localized, ShopInfo

    food = ROOT / "bench" / "eval" / "shops" / "food" / "knowledge"
    config, holder = load_shop(knowledge_dir=food)
    shop = holder.current.knowledge.shop
    assert "小岚" in config.persona_for(shop).zh  # not the demo's 小鹿
    assert shop.name.en == "Misty Hill Tea & Snacks"
    bare = ShopInfo(Localized("小店", "Little Shop"))
    assert config.persona_for(bare).en == "You are the customer-service assistant of Little Shop."
