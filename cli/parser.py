"""kefu's command line: the subcommands and their arguments (``main.py`` runs them)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from core.knowledge import cli as knowledge_cli
from core.runtime.runtime import Role as ProcessRole


def build_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kefu", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run everything configured")
    serve_parser.add_argument(
        "--role",
        choices=[r.value for r in ProcessRole],
        default=ProcessRole.ALL.value,
        help="all in one process (default), or receiving (ingest) and answering (worker) "
        "as separate processes on the same store",
    )
    core_parser = sub.add_parser("core", help="run the OpenAI-compatible inference service alone")
    core_parser.add_argument("--port", type=int)
    chat_parser = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat_parser.add_argument("--chat-id", default="local")
    export_parser = sub.add_parser("export", help="export a conversation as JSON")
    export_parser.add_argument("key", help="platform|chat_id|thread_id, e.g. 'terminal|local|'")
    export_parser.add_argument("--out", type=Path)
    feedback_parser = sub.add_parser("feedback", help="staff feedback on answers")
    feedback_sub = feedback_parser.add_subparsers(dest="feedback_command", required=True)
    feedback_export = feedback_sub.add_parser(
        "export", help="write thumbs up/down as bench.eval cases files (one per day)"
    )
    feedback_export.add_argument("file", type=Path, help="cases file to write, e.g. feedback.yaml")
    feedback_export.add_argument("--since", type=_day, help="first day (YYYY-MM-DD, UTC)")
    feedback_export.add_argument("--until", type=_day, help="last day (YYYY-MM-DD, UTC)")
    dead_parser = sub.add_parser("deadletters", help="list or replay dead letters")
    dead_parser.add_argument("action", choices=["list", "replay"])
    dead_parser.add_argument("refs", nargs="*", help="inbox:ID or outbox:ID (replay)")
    dead_parser.add_argument("--all", action="store_true", help="replay every dead letter")
    dead_parser.add_argument("--json", action="store_true", help="list as JSON")
    knowledge_cli.add_parser(sub)
    return parser


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {value!r}") from None
