"""``python main.py knowledge check|import|migrate``: the shop owner's tools (no model, no store).

main.py hands ``knowledge ...`` command lines here before it imports the engines and the
store, so these commands start fast and work where no model is installed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

from core.errors import ConfigError

IMPORTERS = ("shopify", "woocommerce")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``knowledge`` sub-command and its own sub-commands, for main.py's parser."""
    parser = sub.add_parser("knowledge", help="check, import or migrate a shop's knowledge folder")
    commands = parser.add_subparsers(dest="knowledge_command", required=True)
    check = commands.add_parser("check", help="validate a knowledge folder (exit 1 on errors)")
    check.add_argument("folder", type=Path)
    check.add_argument("--date", type=_day, help="evaluate as on this day (default: today)")
    importer = commands.add_parser("import", help="a product CSV export -> catalog.yaml on stdout")
    importer.add_argument("platform", choices=IMPORTERS)
    importer.add_argument("csv", type=Path)
    importer.add_argument("--language", choices=["en", "zh"], default="en",
                          help="the language the CSV's titles and descriptions are in")  # fmt: skip
    migrate = commands.add_parser("migrate", help="convert a format-1 folder to format 2")
    migrate.add_argument("folder", type=Path)
    migrate.add_argument("target", type=Path, help="an empty folder for the format-2 files")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {value!r}") from None


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from core.knowledge.check import check_folder

    report = check_folder(args.folder, args.date or date.today())
    for line in (*report.errors, *report.warnings, report.summary):
        print(line, file=out)
    return 0 if report.ok else 1


def _import(args: argparse.Namespace, out: TextIO) -> int:
    if args.platform == "shopify":
        from core.knowledge.importers.shopify import import_shopify as run
    else:
        from core.knowledge.importers.woocommerce import import_woocommerce as run
    out.write(run(args.csv, args.language))
    return 0


def _migrate(args: argparse.Namespace, out: TextIO) -> int:
    from core.knowledge.migrate import migrate

    for note in migrate(args.folder, args.target):
        print(f"note: {note}", file=out)
    print(f"{args.target}: written as format 2; run `knowledge check {args.target}`", file=out)
    return 0


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run a parsed ``knowledge`` command (output to ``out``, default stdout); a problem goes
    to ``err`` (default stderr) and exits 1."""
    commands = {"check": _check, "import": _import, "migrate": _migrate}
    try:
        return commands[args.knowledge_command](args, out or sys.stdout)
    except ConfigError as exc:
        print(f"kefu: {exc}", file=err or sys.stderr)
        return 1


def main(argv: list[str]) -> int:
    """``argv`` after ``knowledge`` (the fast path main.py takes)."""
    parser = argparse.ArgumentParser(prog="kefu")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["knowledge", *argv]))
