"""What the CSV importers share: reading the file, cleaning texts, writing catalog.yaml."""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import CatalogImportError

TAG = re.compile(r"<[^>]+>")
SPACES = re.compile(r"\s+")
LANGUAGES = ("zh", "en")


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV file's rows as header -> text, with the 1-based line of each row."""

    path: Path
    header: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]

    def require(self, columns: Iterable[str]) -> None:
        if missing := [c for c in columns if c not in self.header]:
            raise CatalogImportError(f"{self.path}:1: missing column(s): {', '.join(missing)}")


def read_table(path: Path) -> Table:
    """Read a UTF-8 CSV (a byte-order mark is allowed, as spreadsheet exports write one).

    Raises:
        CatalogImportError: the file cannot be read or has no header.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            rows, first = [], reader.line_num + 1
            for row in reader:  # a quoted cell may span lines: a row is named by its first
                rows.append((first, {k: (v or "") for k, v in row.items() if k}))
                first = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CatalogImportError(f"{path}:1: cannot read the CSV: {exc}") from exc
    if not header:
        raise CatalogImportError(f"{path}:1: the CSV has no header row")
    return Table(path, header, tuple(rows))


def plain_text(value: str) -> str:
    """HTML to one line of text: tags become spaces, entities are decoded, spaces collapse."""
    return SPACES.sub(" ", html.unescape(TAG.sub(" ", value))).strip()


def words(value: str) -> list[str]:
    """``"earbuds, wireless, ANC"`` -> ``["earbuds", "wireless", "ANC"]``."""
    return [w.strip() for w in value.split(",") if w.strip()]


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "other"


def other_language(language: str) -> str:
    return "en" if language == "zh" else "zh"


def localized(language: str, text: str, translation: str = "") -> dict[str, str]:
    """``{en: text, zh: translation}``, the CSV's own language first; empty parts left out."""
    out = {language: text} if text else {}
    if translation:
        out[other_language(language)] = translation
    return out


@dataclass(slots=True)
class CatalogDraft:
    """The catalog being built: categories in order of first use, products in file order."""

    categories: dict[str, str] = field(default_factory=dict)
    products: list[dict[str, Any]] = field(default_factory=list)

    def category(self, name: str) -> str:
        key = slug(name)
        self.categories.setdefault(key, name or "Other")
        return key


def dump_catalog(draft: CatalogDraft, source: Path, platform: str) -> str:
    """The catalog.yaml text: a header naming the source, then plain block YAML."""
    data = {"categories": draft.categories, "products": draft.products}
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return f"# Imported from {source.name} ({platform}); see docs/knowledge-format.md §4.\n{body}"
