"""What the importers share: CSV reading, HTML to text, lists, category ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import CatalogImportError
from core.knowledge.importers.common import localized, plain_text, read_table, slug, words


def test_html_becomes_one_line_of_text() -> None:
    assert (
        plain_text("<p>Fast &amp; <strong>quiet</strong>,\n small.</p>") == "Fast & quiet , small."
    )


def test_lists_ids_and_languages() -> None:
    assert words(" earbuds, ,ANC ") == ["earbuds", "ANC"]
    assert slug("Power Banks") == "power-banks" and slug("") == "other"
    assert localized("en", "Kettle", "电水壶") == {"en": "Kettle", "zh": "电水壶"}
    assert localized("zh", "电水壶") == {"zh": "电水壶"}


def test_a_byte_order_mark_is_read_and_lines_are_counted(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_bytes('\ufeffHandle,Title\na,"Line one\nline two"\nb,B\n'.encode())
    table = read_table(csv)
    assert table.header == ("Handle", "Title")
    assert [line for line, _ in table.rows] == [2, 4]  # the first line of each row


def test_unreadable_or_empty_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogImportError, match="cannot read"):
        read_table(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CatalogImportError, match="no header"):
        read_table(empty)
