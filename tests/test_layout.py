"""The layout rules: what core/ may import, and no wiring after construction."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE_CORE = ("adapters", "bots", "config", "cli", "main")

PROBE = """
import importlib, pkgutil, sys
import core
for module in pkgutil.walk_packages(core.__path__, "core."):
    if ".migrations" not in module.name:
        importlib.import_module(module.name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("telegram", "slack_sdk", "slack_bolt",
                "adapters", "bots", "config", "cli", "main"))
print(",".join(loaded))
"""

# Attributes of other objects that code may assign: mutable state records (progress of one
# delivery, a decoding job, a KV cache layer, a live request, an album being collected),
# library objects whose API works that way, and log records being redacted. Wiring (a
# collaborator, a callback, a switch another part reads) never belongs here.
STATE_ASSIGNMENTS = {
    ("core/engines/_runner.py", "batch.next_pos"),
    ("core/engines/openai_engine.py", "state.connect"),
    ("core/engines/openai_engine.py", "state.aborted"),
    ("core/engines/openai_engine.py", "state.response"),
    ("core/engines/_kv.py", "layer.length"),
    ("core/engines/_kv.py", "layer.keys"),
    ("core/engines/_kv.py", "layer.values"),
    ("core/engines/_jobs.py", "job.completion_tokens"),
    ("core/engines/_engine_thread.py", "job.aborted"),
    ("core/engines/_engine_thread.py", "job.finished"),
    ("core/engines/_llama_sched.py", "job.sent"),
    ("core/media/ocr.py", "self.stats.runs"),
    ("core/media/ocr.py", "self.stats.cache_hits"),
    ("core/store/db.py", "dbapi_connection.isolation_level"),  # DB-API: set per connection
    ("adapters/webhook/live.py", "live.turn_id"),
    ("adapters/webhook/live.py", "live.finished"),
    ("adapters/webhook/helpdesk.py", "progress.steps_done"),
    ("adapters/slack/desk.py", "progress.steps_done"),
    ("adapters/slack/delivery.py", "progress.images_done"),
    ("adapters/slack/adapter.py", "self._socket.client.wss_uri"),  # slack_sdk: no parameter
    ("adapters/telegram/albums.py", "group.timer"),
    ("adapters/telegram/albums.py", "group.flush_now"),
    ("adapters/telegram/media.py", "record.msg"),  # a logging filter redacts the record
    ("adapters/telegram/media.py", "record.args"),
    ("core/redaction.py", "record.msg"),  # every log record is scrubbed when it is made
    ("core/redaction.py", "record.args"),
    ("core/redaction.py", "record.exc_text"),
    ("core/redaction.py", "record.exc_info"),
    ("core/engines/_llama_rows.py", "job.completion_tokens"),
    ("core/engines/_llama_rows.py", "slot.last_token"),
    ("core/engines/_llama_sched.py", "slot.next_pos"),
    ("core/engines/_llama_sched.py", "slot.stopper"),
    ("core/engines/llamacpp_engine.py", "job.taken"),
}
# ctypes: llama.cpp's C structs and function prototypes are filled field by field.
CTYPES_FILES = {"core/engines/_llamacpp.py"}


def _sources() -> list[Path]:
    files = [ROOT / "main.py"]
    for package in ("core", "adapters", "bots", "config", "cli"):
        files += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return files


def _imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_nothing_from_adapters_bots_or_config() -> None:
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if module.split(".")[0] in OUTSIDE_CORE:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_config_imports_nothing_from_core() -> None:
    offenders = []
    for path in (ROOT / "config").rglob("*.py"):
        for module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if module.split(".")[0] == "core":
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_importing_all_of_core_loads_no_platform_library_and_no_outer_package() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)  # fmt: skip
    assert result.stdout.strip() == "", f"core pulled in: {result.stdout.strip()}"


def test_nothing_is_rebound_after_construction() -> None:
    """No code assigns another object's attributes (a ``bind()``), except state records."""
    found = set()
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "bind":
                found.add((relative, f"def {node.name}"))
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if not (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)):
                        continue
                    if isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"):
                        continue
                    if relative in CTYPES_FILES:
                        continue
                    found.add((relative, ast.unparse(sub)))
    assert found - STATE_ASSIGNMENTS == set()


def test_only_the_store_speaks_sqlalchemy() -> None:
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        if {"store", "migrations"} & set(path.relative_to(ROOT / "core").parts):
            continue
        for module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if module.split(".")[0] in ("sqlalchemy", "asyncpg", "aiosqlite", "alembic"):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []
