"""Adapter registry: one line per platform, imported lazily so unused SDKs never load."""

from __future__ import annotations

import importlib

from adapters.base import Adapter

ADAPTERS: dict[str, str] = {
    "telegram": "adapters.telegram.adapter:TelegramAdapter",
    "slack": "adapters.slack.adapter:SlackAdapter",
    "webhook": "adapters.webhook.adapter:WebhookAdapter",
    "terminal": "adapters.terminal.adapter:TerminalAdapter",
}


def load_adapter_class(name: str) -> type[Adapter]:  # type: ignore[type-arg]
    """Import and return the adapter class registered under ``name``.

    Raises:
        KeyError: if no adapter is registered under ``name``.
    """
    module_name, _, class_name = ADAPTERS[name].partition(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)  # type: ignore[type-arg]
    return cls
