"""The platform registry: one line per platform.

A platform is a folder under ``adapters/`` with a settings model (pydantic, with a
``configured`` property: credentials present) and an adapter class constructed as
``Adapter(context, settings)``; optionally a staff desk for handoffs, built as
``build_desk(adapter, settings, handoff_settings)``. The settings model becomes the
config section of the same name (``KEFU_<NAME>__…`` in the environment), and ``serve``
starts every configured platform. Entries are import paths, so an unused platform's SDK
is never imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Platform:
    """One registry line.

    Attributes:
        name: The platform's name: its config section and its conversation keys' platform.
        settings: ``"module:Class"`` of its settings model.
        adapter: ``"module:Class"`` of its adapter.
        desk: ``"module:function"`` building its staff desk, when it can hold handoffs.
    """

    name: str
    settings: str
    adapter: str
    desk: str | None = None

    def settings_class(self) -> type[Any]:
        return _load(self.settings)

    def adapter_class(self) -> type[Any]:
        return _load(self.adapter)

    def desk_builder(self) -> Any:
        return _load(self.desk) if self.desk else None


# fmt: off
PLATFORMS: tuple[Platform, ...] = (
    Platform("telegram", "adapters.telegram.settings:TelegramSettings", "adapters.telegram.adapter:TelegramAdapter"),
    Platform("slack", "adapters.slack.settings:SlackSettings", "adapters.slack.adapter:SlackAdapter", "adapters.slack.desk:build_desk"),
    Platform("webhook", "adapters.webhook.settings:WebhookSettings", "adapters.webhook.adapter:WebhookAdapter", "adapters.webhook.helpdesk:build_desk"),
    Platform("web", "adapters.web.settings:WebSettings", "adapters.web.adapter:WebAdapter", "adapters.web.desk:build_desk"),
    Platform("terminal", "adapters.terminal.settings:TerminalSettings", "adapters.terminal.adapter:TerminalAdapter"),
)
# fmt: on


def platform(name: str) -> Platform:
    """The registry line of ``name``.

    Raises:
        KeyError: no platform is registered under ``name``.
    """
    for entry in PLATFORMS:
        if entry.name == name:
            return entry
    raise KeyError(name)


def _load(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
