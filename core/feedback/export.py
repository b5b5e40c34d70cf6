"""``main.py feedback export FILE``: write staff feedback as bench.eval cases files.

One file per day (a cases file has one evaluation date): ``FILE`` when the feedback spans
one day, else ``FILE``'s name with ``-YYYY-MM-DD`` per day. Photos of the rated questions
go to ``images/`` next to the file, where bench.eval looks for a shop's photos.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.feedback.cases import CaseFileText, case_files
from core.store.feedback import FeedbackLog
from core.store.store import Store


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """One file the export wrote."""

    path: Path
    cases: int
    skipped: int


def _path_for(out: Path, file: CaseFileText, several: bool) -> Path:
    if not several:
        return out
    return out.with_name(f"{out.stem}-{file.day.isoformat()}{out.suffix or '.yaml'}")


def _write_file(out: Path, file: CaseFileText) -> WrittenFile:
    out.parent.mkdir(parents=True, exist_ok=True)
    for item in file.cases:
        if item.image_name is not None:
            images = out.parent / "images"
            images.mkdir(exist_ok=True)
            (images / item.image_name).write_bytes(item.rated.question.images[0].data)
    if file.cases:  # a cases file needs at least one case
        out.write_text(file.render(), encoding="utf-8")
    return WrittenFile(out, len(file.cases), len(file.skipped))


async def export_feedback(
    store: Store,
    out: Path,
    since: datetime | None = None,
    until: datetime | None = None,
    history_rounds: int = 5,
) -> list[WrittenFile]:
    """Write the feedback given in [since, until) as cases files; returns what was written.

    A day whose rated answers all had to be skipped gets no file (its entry says 0 cases).
    """
    rated = await FeedbackLog(store).rated_answers(since, until, history_rounds)
    files = case_files(rated)
    several = len(files) > 1
    written: list[WrittenFile] = []
    for file in files:
        path = _path_for(out, file, several)
        written.append(await asyncio.to_thread(_write_file, path, file))
    return written
