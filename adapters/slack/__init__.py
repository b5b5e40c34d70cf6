"""Slack adapter (bolt async, Events API over HTTP or Socket Mode)."""

from adapters.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
