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
from dataclasses import dataclass

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
_TOKEN = re.compile(r"(\\d|\[[^\]]+\])(?:\{(\d+)(?:,(\d+))?\})?|\\-|-|[A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class _Shape:
    r"""A pattern made of letters, digits, dashes, ``\d`` and character classes with counts.

    ``loose`` is the tolerant regex; ``dashes`` where a canonical number has its dashes;
    ``slots`` what each character (dashes left out) must be, when the length is fixed: ``"#"``
    a digit, a letter that very letter, ``""`` anything the class allows.
    """

    loose: str
    dashes: tuple[int, ...]
    slots: tuple[str, ...] | None


def _group(token: str, low: int, high: int) -> tuple[str, str]:
    r"""The loose regex of ``\d`` or a character class repeated low..high times, and its slot."""
    if token == "\\d" or token in ("[0-9]", "[\\d]"):
        return rf"(?:{_LOOSE_DIGIT} ?){{{low},{high}}}", "#"
    return rf"(?:{token.upper()} ?){{{low},{high}}}", ""


def _shape(pattern: str) -> _Shape | None:
    """The shape of ``pattern``, or None when it uses more than the pieces above (then only
    exact matches are found)."""
    out: list[str] = []
    dashes: list[int] = []
    slots: list[str] = []
    fixed, position, width = True, 0, 0
    for match in _TOKEN.finditer(pattern):
        if match.start() != position:
            return None
        position = match.end()
        token = match.group(0)
        if match.group(1):
            low = int(match.group(2) or 1)
            high = int(match.group(3) or low)
            regex, slot = _group(match.group(1), low, high)
            out.append(regex)
            slots += [slot] * low
            fixed = fixed and low == high
            width += low
        elif token in ("-", "\\-"):
            out.append(r"[\s-]*")
            dashes.append(width)
            width += 1
        else:
            letter = token.upper()
            look = {"O": "0", "I": "1", "S": "5", "B": "8"}.get(letter, "")
            out.append(f"[{letter}{look}]" + r"[\s:#：]*")
            slots.append("#" if letter.isdigit() else letter)
            width += 1
    if position != len(pattern) or not out:
        return None
    return _Shape("".join(out), tuple(dashes), tuple(slots) if fixed else None)


class OrderNumberReader:
    """Finds the shop's order numbers in text.

    Args:
        pattern: The shop's order-number regular expression (matched in full, upper case).

    Raises:
        re.error: an invalid pattern (the loader validates it first).
    """

    def __init__(self, pattern: str) -> None:
        self.exact = re.compile(pattern)
        shape = _shape(pattern)
        self._shape = shape
        source = shape.loose if shape is not None else pattern
        # OCR glues labels to the number ("OrderWX-2026-…"), so a letter may come before it.
        self.candidates = re.compile(rf"(?<![0-9])({source})(?![A-Z0-9])")
        self.prefix = re.match(r"[A-Z]*", pattern).group(0)  # type: ignore[union-attr]

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
        # Where the pattern says a digit, a letter that looks like one is that digit (OCR);
        # letters the pattern asks for stay letters.
        slots = self._shape.slots if self._shape is not None else None
        if slots is not None and len(slots) == len(compact):
            return "".join(_repaired(ch, slot) for ch, slot in zip(compact, slots, strict=True))
        n = len(self.prefix)
        body = "".join(DIGITISH.get(ch, ch) for ch in compact[n:])
        return self.prefix + body

    def _with_dashes(self, compact: str) -> str:
        chars = list(compact)
        for position in self._shape.dashes if self._shape is not None else ():
            if position <= len(chars):
                chars.insert(position, "-")
        return "".join(chars)


def _repaired(char: str, slot: str) -> str:
    """``char`` read where the pattern wants ``slot`` (see :class:`_Shape`)."""
    if slot == "#":
        return DIGITISH.get(char, char)
    if slot and DIGITISH.get(slot) == char:
        return slot  # the pattern's own letter, read by OCR as its look-alike digit
    return char
