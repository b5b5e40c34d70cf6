"""Commands that work on the store alone (no engine, no adapters): export, feedback, dead letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from config.settings import Settings
from core.errors import ConfigError
from core.store.store import Store


async def export_conversation(settings: Settings, key: str, out: Path | None) -> None:
    """Write one conversation (turns, decisions, handoffs) as JSON to ``out`` or stdout."""
    from core.store.export import export_conversation_from_url

    data = await export_conversation_from_url(settings.store.url, key)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out:
        await asyncio.to_thread(out.write_text, text, encoding="utf-8")
    else:
        print(text)


async def feedback_export(
    settings: Settings, out: Path, since: date | None, until: date | None
) -> None:
    """Write the feedback given between ``since`` and ``until`` (inclusive) as cases files."""
    from core.feedback.export import export_feedback

    start = datetime.combine(since, time.min, UTC) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, UTC) if until else None
    store = await Store.open(settings.store.url)
    try:
        written = await export_feedback(store, out, start, end, settings.bot.history_rounds)
    finally:
        await store.close()
    if not written:
        print("no feedback in that period")
    for file in written:
        where = file.path if file.cases else f"{file.path} (not written: no usable case)"
        print(f"{where}: {file.cases} case(s), {file.skipped} skipped (see its comments)")


async def deadletters(settings: Settings, args: argparse.Namespace) -> int:
    """``deadletters list`` prints them; ``deadletters replay REF… | --all`` requeues them."""
    from core.store.deadletters import DeadLetters

    store = await Store.open(settings.store.url)
    try:
        letters = DeadLetters(store)
        if args.action == "list":
            found = await letters.listed()
            if args.json:
                print(json.dumps([
                    {"ref": d.ref, "conversation": d.conversation, "attempts": d.attempts,
                     "error": d.error, "text": d.text, "at": d.at.isoformat() if d.at else None}
                    for d in found
                ], ensure_ascii=False, indent=2))  # fmt: skip
            for d in [] if args.json else found:
                print(f"{d.ref}\t{d.conversation}\t{d.attempts}\t{d.error[:60]}\t{d.text}")
            if not args.json:
                print(f"{len(found)} dead letter(s)", file=sys.stderr)
            return 0
        if not args.refs and not args.all:
            raise ConfigError("deadletters replay: name inbox:ID / outbox:ID, or --all")
        replayed = await letters.replay(args.refs, every=args.all)
        print(f"replayed {len(replayed)}: {' '.join(replayed) or '-'}")
        return 0 if replayed or args.all else 1
    finally:
        await store.close()
