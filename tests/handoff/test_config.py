"""HandoffSettings: defaults, bounds, and the helpdesk secret kept out of YAML and reprs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from config.handoff import HandoffSettings
from config.settings import SettingsError, load_yaml


def test_defaults_send_handoffs_to_the_web_desk() -> None:
    settings = HandoffSettings()
    assert (settings.target, settings.expected_wait_minutes, settings.take_timeout_minutes) == (
        "web",
        10,
        15.0,
    )
    assert settings.slack_channel is None and settings.ping_mention == "<!here>"


@pytest.mark.parametrize(
    "field",
    [
        {"take_timeout_minutes": 0},
        {"expected_wait_minutes": 0},
        {"transcript_turns": 0},
    ],
)
def test_bad_values_are_rejected(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        HandoffSettings(**field)  # type: ignore[arg-type]


def test_the_helpdesk_secret_never_shows_and_never_comes_from_yaml(tmp_path: Path) -> None:
    settings = HandoffSettings(helpdesk_secret=SecretStr("whsec_c2VjcmV0"))
    assert "c2VjcmV0" not in repr(settings)
    config = tmp_path / "kefu.yaml"
    config.write_text("handoff:\n  helpdesk_secret: whsec_c2VjcmV0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="KEFU_HANDOFF__HELPDESK_SECRET"):
        load_yaml(config)
