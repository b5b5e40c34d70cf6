"""Find order numbers in customer text and in the OCR text of screenshots.

OCR output is messy: full-width characters (``OrderNo.：SO2026…``), spaces dropped or
inserted (``SO 20261102 - 0042``), dashes of every width, and the letter O read as the
digit 0. Text is normalised first; candidates are then repaired and must match the shop's
canonical format ``<PREFIX><8 digits>-<4 digits>`` exactly.
"""

from __future__ import annotations

import re
import unicodedata

DASHES = "‐‑‒–—―−－ー一_"  # OCR renders a hyphen as any of these (一 is the CJK "one")
_DIGITISH = {
    "O": "0",
    "Q": "0",
    "D": "0",
    "I": "1",
    "L": "1",
    "|": "1",
    "Z": "2",
    "S": "5",
    "B": "8",
}


def normalise_for_numbers(text: str) -> str:
    """NFKC, uppercase, every dash variant to ``-``."""
    text = unicodedata.normalize("NFKC", text).upper()
    return re.sub(f"[{re.escape(DASHES)}]", "-", text)


def _candidate_pattern(prefix: str) -> re.Pattern[str]:
    # The prefix may be misread too ("S0" for "SO"); the body is 12 digit-like characters
    # with an optional dash, and spaces anywhere in it.
    loose_prefix = "".join(f"[{ch}{'0' if ch == 'O' else ''}]" for ch in prefix)
    body = r"(?:[\s]*[0-9OQDILZSB|]){8}[\s]*-?[\s]*(?:[0-9OQDILZSB|][\s]*){3}[0-9OQDILZSB|]"
    return re.compile(rf"(?<![0-9]){loose_prefix}[\s:#：]*({body})(?![0-9])")


def _repair(body: str) -> str | None:
    chars = [c for c in body if not c.isspace() and c != "-"]
    digits = "".join(_DIGITISH.get(c, c) for c in chars)
    if len(digits) != 12 or not digits.isdigit():
        return None
    return f"{digits[:8]}-{digits[8:]}"


def find_order_numbers(text: str, prefix: str = "SO") -> list[str]:
    """Canonical order numbers (``SO20261102-0042``) in ``text``, first occurrence first.

    Args:
        text: Customer text or OCR text (raw or already normalised).
        prefix: The shop's order-number prefix.
    """
    normalised = normalise_for_numbers(text)
    found: list[str] = []
    for match in _candidate_pattern(prefix.upper()).finditer(normalised):
        repaired = _repair(match.group(1))
        if repaired is not None:
            found.append(f"{prefix.upper()}{repaired}")
    return list(dict.fromkeys(found))
