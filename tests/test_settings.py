"""Settings: YAML defaults, environment overrides, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_come_from_the_yaml_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEFU_CONFIG", raising=False)
    settings = load_settings()
    assert settings.engine.kind == "auto" and settings.engine.model == "embedded"
    assert settings.store.url.startswith("sqlite:///")
    assert settings.telegram.bot_token is None


def test_environment_overrides_yaml_and_carries_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_ENGINE__MAX_BATCH_SIZE", "4")
    monkeypatch.setenv("KEFU_TELEGRAM__BOT_TOKEN", "123:abc")
    settings = load_settings()
    assert settings.engine.max_batch_size == 4
    assert settings.telegram.bot_token is not None
    assert settings.telegram.bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)


def test_secret_in_yaml_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kefu.yaml"
    path.write_text("slack:\n  signing_secret: hunter2\n", encoding="utf-8")
    monkeypatch.setenv("KEFU_CONFIG", str(path))
    with pytest.raises(SettingsError, match="KEFU_SLACK__SIGNING_SECRET"):
        load_settings()


def test_token_counts_are_not_mistaken_for_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kefu.yaml"
    path.write_text("engine:\n  max_new_tokens: 64\n", encoding="utf-8")
    monkeypatch.setenv("KEFU_CONFIG", str(path))
    assert load_settings().engine.max_new_tokens == 64


def test_broken_yaml_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kefu.yaml"
    path.write_text("engine: [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("KEFU_CONFIG", str(path))
    with pytest.raises(SettingsError, match="cannot read settings"):
        load_settings()


def test_sample_config_is_current_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.make_sample import render

    sample = Path(__file__).resolve().parent.parent / "config" / "sample.yaml"
    assert sample.read_text(encoding="utf-8") == render(), (
        "run: python -m config.make_sample > config/sample.yaml"
    )
    monkeypatch.setenv("KEFU_CONFIG", str(sample))
    assert load_settings().engine.model == "embedded"


def test_every_registered_platform_has_its_own_section(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.registry import PLATFORMS

    monkeypatch.setenv("KEFU_WEBHOOK__SOURCES__CRM__SECRET", "whsec_c2VjcmV0")
    settings = load_settings()
    for entry in PLATFORMS:
        assert isinstance(settings.platform(entry.name), entry.settings_class())
    assert settings.platform("webhook").configured and not settings.platform("slack").configured
    with pytest.raises(KeyError):
        settings.platform("engine")  # a core section is not a platform's


def test_env_example_lists_every_variable_and_is_current() -> None:
    from config.make_sample import render_env

    example = Path(__file__).resolve().parent.parent / ".env.example"
    text = example.read_text(encoding="utf-8")
    assert text == render_env(), "run: python -m config.make_sample --env > .env.example"
    for variable in (
        "KEFU_SERVICE__OPERATOR_TOKEN=",
        "KEFU_HANDOFF__TARGET=web",
        "KEFU_WEB__ENABLED=true",
        "KEFU_SLACK__BOT_TOKEN=",
        "KEFU_STORE__URL=",
    ):
        assert f"# {variable}" in text
    assert all(line.startswith("#") for line in text.splitlines() if line)  # nothing set


@pytest.mark.parametrize(
    "yaml_text",
    ["service:\n  prot: 8001\n", "telegram:\n  webhok_path: /x\n", "handoff:\n  targte: slack\n"],
)
def test_unknown_keys_inside_a_section_are_refused(
    yaml_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kefu.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    monkeypatch.setenv("KEFU_CONFIG", str(config))
    with pytest.raises(ValueError, match=r"xtra|unknown setting"):
        load_settings()


def test_a_missing_config_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_CONFIG", str(tmp_path / "typo.yaml"))
    with pytest.raises(SettingsError, match=r"typo\.yaml"):
        load_settings()


def test_platform_sections_are_still_their_own_settings_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.telegram.settings import TelegramSettings

    monkeypatch.delenv("KEFU_CONFIG", raising=False)
    assert isinstance(load_settings().telegram, TelegramSettings)
