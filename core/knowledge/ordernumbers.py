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


SEPARATORS = " -"
TOKEN = re.compile(r"[A-Z0-9]+")
SPAN = re.compile(r"[A-Z0-9]+(?:[\s\-]+[A-Z0-9]+)*")
MAX_TOKENS = 6


def _mark_separators(pattern: str) -> str:
    """The pattern with each literal separator (``-``, a space) replaced by an empty named
    group, so a number typed without them still matches and they can be put back."""
    out, index, in_class, count = [], 0, False, 0
    while index < len(pattern):
        char = pattern[index]
        pair = pattern[index : index + 2]
        if char == "\\" and not in_class and pair[1:] in ("-", " "):
            out.append(f"(?P<_sep{count}_{ord(pair[1])}>)")
            count, index = count + 1, index + 2
            continue
        if char == "\\":
            out.append(pair)
            index += 2
            continue
        if char in SEPARATORS and not in_class:
            out.append(f"(?P<_sep{count}_{ord(char)}>)")
            count += 1
        else:
            in_class = (in_class or char == "[") and not (in_class and char == "]")
            out.append(char)
        index += 1
    return "".join(out)


class OrderNumbers:
    """A shop's own order-number form (shop.yaml ``orders.number_pattern``), for finding
    numbers in messages and OCR text and for looking them up.

    Customers type ``wx-2026-001250``, ``WX 2026 001233`` or ``vb 26061617``: text is
    normalised (NFKC, upper case, every dash to ``-``), separators may be missing or
    replaced by spaces, and OCR's letter-for-digit slips after the leading letters are
    repaired; what is returned always matches the pattern in full.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        self._marked = re.compile(_mark_separators(pattern))

    def canonical(self, text: str) -> str | None:
        """The number ``text`` is, written as the shop writes it; None if it is none."""
        tokens = TOKEN.findall(normalise_for_numbers(text))
        return self._rebuild("".join(tokens)) if tokens else None

    def _rebuild(self, compact: str) -> str | None:
        for candidate in (compact, _repair_digits(compact)):
            match = self._marked.fullmatch(candidate)
            if match is None:
                continue
            inserts = sorted(
                ((match.start(name), chr(int(name.rsplit("_", 1)[1])))
                 for name in self._marked.groupindex if name.startswith("_sep")
                 and match.start(name) >= 0),
                reverse=True,
            )  # fmt: skip
            for position, separator in inserts:
                candidate = candidate[:position] + separator + candidate[position:]
            if self.pattern.fullmatch(candidate):
                return candidate
        return None

    def find(self, text: str) -> list[str]:
        """Every order number in ``text``, first occurrence first."""
        found: list[str] = []
        for span in SPAN.finditer(normalise_for_numbers(text)):
            tokens = TOKEN.findall(span.group())
            start = 0
            while start < len(tokens):
                taken = self._longest(tokens, start)
                if taken is None:
                    start += 1
                    continue
                number, used = taken
                found.append(number)
                start += used
        return list(dict.fromkeys(found))

    def _longest(self, tokens: list[str], start: int) -> tuple[str, int] | None:
        for end in range(min(len(tokens), start + MAX_TOKENS), start, -1):
            number = self._rebuild("".join(tokens[start:end]))
            if number is not None:
                return number, end - start
        return None


def _repair_digits(compact: str) -> str:
    """Letters OCR reads for digits (``O`` for 0), after the leading letters (the prefix)."""
    prefix = re.match(r"[A-Z]*", compact)
    head = prefix.group() if prefix else ""
    return head + "".join(_DIGITISH.get(c, c) for c in compact[len(head) :])
