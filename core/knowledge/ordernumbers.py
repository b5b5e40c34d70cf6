"""Order numbers in customer text and in the OCR text of screenshots.

:class:`OrderNumbers` reads a shop's own form (``shop.yaml`` ``orders.number_pattern``, a
plain regular expression such as ``VB\\d{8}``, ``WX-\\d{4}-\\d{6}`` or ``PD\\d{6}-[A-Z]{2}``)
tolerantly: lower case is fine (``vb26061902``), spaces may be typed or dropped
(``VB 26061617``, ``PD 261109 RN``), a dash may be any dash or missing, and OCR's letters that
look like digits (O for 0, I/l for 1, S for 5, B for 8) are repaired where the pattern wants
a digit. What is found must then match the pattern exactly. It never borrows from the next
word: a space-separated piece without a digit belongs to the number only where the pattern
wants letters, and the number must end at a word boundary, so ``VB2606190 Sent`` is not read
as ``VB26061905``.

:func:`find_order_numbers` finds numbers of the fixed ``<PREFIX><8 digits>-<4 digits>`` form
(the grounding check and handoff summaries use it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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
            out.append(f"[{letter}{look}]" + r"[\s:#：\-–]*")  # "BB-26121501" for BB26121501
            slots.append("#" if letter.isdigit() else letter)
            width += 1
    if position != len(pattern) or not out:
        return None
    return _Shape("".join(out), tuple(dashes), tuple(slots) if fixed else None)


class OrderNumbers:
    """A shop's order numbers: found in text and OCR text, and written in the shop's form.

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
        self._whole = re.compile(source)
        self.prefix = re.match(r"[A-Z]*", pattern).group(0)  # type: ignore[union-attr]

    def canonical(self, text: str) -> str | None:
        """The number ``text`` is as a whole, written as the shop writes it; None if none."""
        match = self._whole.fullmatch(normalise_for_numbers(text).strip())
        return self._repair(match.group(0)) if match is not None else None

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
        if not self._pieces_belong(candidate):
            return None  # a word after the number, not part of it
        compact = re.sub(r"[\s:#：\-–]", "", candidate)
        for fixed in (compact, self._digits_repaired(compact)):
            number = self._with_dashes(fixed)
            if self.exact.fullmatch(number):
                return number
        return None

    def _pieces_belong(self, candidate: str) -> bool:
        """Every space-separated piece after the first has a digit, or falls where the
        pattern wants letters ("PD 261109 RN"; not "VB2606190 SB")."""
        pieces = [re.sub(r"[:#：-]", "", p) for p in candidate.split()]
        pieces = [p for p in pieces if p]
        slots = self._shape.slots if self._shape is not None else None
        position = len(pieces[0]) if pieces else 0
        for piece in pieces[1:]:
            lettered = slots is not None and all(
                position + i < len(slots) and slots[position + i] not in ("#",)
                and not slots[position + i].isdigit()
                for i in range(len(piece))
            )  # fmt: skip
            if not any(ch.isdigit() for ch in piece) and not lettered:
                return False
            position += len(piece)
        return True

    def _digits_repaired(self, compact: str) -> str:
        # Where the pattern says a digit, a letter that looks like one is that digit (OCR);
        # letters the pattern asks for stay letters.
        slots = self._shape.slots if self._shape is not None else None
        if slots is not None and len(slots) == len(compact):
            return "".join(_repaired(ch, slot) for ch, slot in zip(compact, slots, strict=True))
        n = len(self.prefix)
        body = "".join(_DIGITISH.get(ch, ch) for ch in compact[n:])
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
        return _DIGITISH.get(char, char)
    if slot and _DIGITISH.get(slot) == char:
        return slot  # the pattern's own letter, read by OCR as its look-alike digit
    return char
