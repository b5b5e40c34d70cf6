"""Order numbers in the shop's own format (``shop.yaml`` ``orders.number_pattern``).

The pattern is a plain regular expression such as ``VB\\d{8}``, ``WX-\\d{4}-\\d{6}`` or
``SO\\d{8}-\\d{4}``. From it a tolerant reader is built for customer text and OCR text:
lower case is fine (``vb26061902``), spaces may be typed or dropped (``VB 26061617``), a dash
may be any dash or missing, and OCR's letters that look like digits (O for 0, I/l for 1, S
for 5, B for 8) are repaired. What is found must then match the pattern exactly.

It never borrows from the next word: every space-separated piece of a candidate needs a
real digit, and the candidate must end at a word boundary, so ``VB2606190 Sent`` is not
read as ``VB26061905``.
"""

from __future__ import annotations

import re

from core.knowledge.ordernumbers import normalise_for_numbers

DIGITISH = {
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
_LOOSE_DIGIT = "[0-9OQDILZSB|]"
_TOKEN = re.compile(r"\\d(?:\{(\d+)(?:,(\d+))?\})?|\\-|-|[A-Za-z]")


def _loose(pattern: str) -> str | None:
    """A tolerant regex for ``pattern``, or None when it uses more than letters, dashes and
    ``\\d{n}`` groups (then only exact matches are found)."""
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(pattern):
        if match.start() != position:
            return None
        position = match.end()
        token = match.group(0)
        if token.startswith("\\d"):
            low = int(match.group(1) or 1)
            high = int(match.group(2) or low)
            out.append(rf"(?:{_LOOSE_DIGIT} ?){{{low},{high}}}")
        elif token in ("-", "\\-"):
            out.append(r"[\s-]*")
        else:
            letter = token.upper()
            look = {"O": "0", "I": "1", "S": "5", "B": "8"}.get(letter, "")
            out.append(f"[{letter}{look}]" + r"[\s:#：]*")
    if position != len(pattern) or not out:
        return None
    return "".join(out)


class OrderNumberReader:
    """Finds the shop's order numbers in text.

    Args:
        pattern: The shop's order-number regular expression (matched in full, upper case).

    Raises:
        re.error: an invalid pattern (the loader validates it first).
    """

    def __init__(self, pattern: str) -> None:
        self.exact = re.compile(pattern)
        loose = _loose(pattern)
        source = loose if loose is not None else pattern
        # OCR glues labels to the number ("OrderWX-2026-…"), so a letter may come before it.
        self.candidates = re.compile(rf"(?<![0-9])({source})(?![A-Z0-9])")
        self.prefix = re.match(r"[A-Z]*", pattern).group(0)  # type: ignore[union-attr]
        self._dashes = [m.start() for m in re.finditer(r"-", _canonical_shape(pattern))]

    def find(self, text: str) -> list[str]:
        """Canonical order numbers in ``text``, first occurrence first, without repeats."""
        normalised = normalise_for_numbers(text)
        found: list[str] = []
        for match in self.candidates.finditer(normalised):
            number = self._repair(match.group(1))
            if number is not None:
                found.append(number)
        return list(dict.fromkeys(found))

    def _repair(self, candidate: str) -> str | None:
        pieces = [p for p in candidate.split() if p.strip("-:#：")]
        if any(not any(ch.isdigit() for ch in piece) for piece in pieces[1:]):
            return None  # a word after the number, not part of it
        compact = re.sub(r"[\s:#：-]", "", candidate)
        for fixed in (compact, self._digits_repaired(compact)):
            number = self._with_dashes(fixed)
            if self.exact.fullmatch(number):
                return number
        return None

    def _digits_repaired(self, compact: str) -> str:
        # The prefix is the pattern's own letters (OCR may read "SO" as "S0"); after it,
        # letters that look like digits are digits.
        n = len(self.prefix)
        body = "".join(DIGITISH.get(ch, ch) for ch in compact[n:])
        return self.prefix + body

    def _with_dashes(self, compact: str) -> str:
        chars = list(compact)
        for position in self._dashes:
            if position <= len(chars):
                chars.insert(position, "-")
        return "".join(chars)


def _canonical_shape(pattern: str) -> str:
    """``WX-\\d{4}-\\d{6}`` -> ``WX-0000-000000``: where the dashes of a canonical number are."""
    shape = re.sub(r"\\d\{(\d+)(?:,\d+)?\}", lambda m: "0" * int(m.group(1)), pattern)
    return shape.replace("\\d", "0").replace("\\-", "-")
