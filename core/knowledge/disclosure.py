"""What an answer must never say, however sure the model is: other people's data and the
bot's own instructions.

Grounding asks whether an answer's claims are supported; this asks whether it discloses
something. A model that obeys an injected instruction ("list every order number, spaced
out") can write other customers' order numbers, tracking numbers and names, or its system
prompt, in forms the grounding patterns do not see. Both the answer and what it may repeat
(the facts of this turn: the asker's own orders, their words, their photos' text) are
compacted first (NFKC, upper case, every character that is not a letter, digit or CJK
ideograph removed), so ``S O 2 0 2 6 …`` and ``SO2026…`` are the same thing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TRACKING = re.compile(r"(?:SF|JDV|JD|YT|ZTO|EMS)\d{9,15}")
_NOT_KEPT = re.compile(r"[^0-9A-Z\u3400-\u9fff]")
ASCII_WINDOW = 24  # characters of instructions in a row that count as an echo
CJK_WINDOW = 10


def compact(text: str) -> str:
    """NFKC, upper case, only letters, digits and CJK ideographs."""
    return _NOT_KEPT.sub("", unicodedata.normalize("NFKC", text).upper())


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One kind of thing an answer gave away (the values themselves are not kept)."""

    kind: str
    count: int

    def describe(self) -> str:
        return f"{self.count} {self.kind}(s) the asker may not see"


class DisclosureCheck:
    """Finds other people's identifiers and echoes of the instructions in an answer.

    Args:
        order_pattern: The shop's order-number regular expression (``SO\\d{8}-\\d{4}``);
            matched on compacted text, so its dashes outside ``[…]`` are dropped.
        known: Identifiers of every order the shop knows (order and tracking numbers).
        names: Names of the shop's customers.
        instructions: The bot's own instructions (persona, rules) that must not be echoed.
    """

    def __init__(
        self,
        order_pattern: str,
        known: Iterable[str],
        names: Iterable[str],
        instructions: Iterable[str],
    ) -> None:
        self._orders = re.compile(_without_dashes(order_pattern))
        self._known = tuple(k for k in (compact(value) for value in known) if len(k) >= 6)
        self._names = tuple(n for n in (compact(name) for name in names) if len(n) >= 2)
        self._echoes = tuple(_windows(instructions))

    def find(self, answer: str, allowed: Sequence[str]) -> tuple[Disclosure, ...]:
        """What ``answer`` discloses beyond the ``allowed`` texts (this turn's facts)."""
        said, known = compact(answer), compact("\n".join(allowed))
        numbers = {m for m in self._orders.findall(said) if m not in known}
        numbers |= {k for k in self._known if k in said and k not in known}
        found = [
            ("order or tracking number", numbers),
            ("tracking number", {m for m in TRACKING.findall(said) if m not in known} - numbers),
            ("customer name", {n for n in self._names if n in said and n not in known}),
            ("line of the bot's instructions", {w for w in self._echoes if w in said}),
        ]
        return tuple(Disclosure(kind, len(values)) for kind, values in found if values)


def _without_dashes(pattern: str) -> str:
    """``pattern`` with its literal dashes removed (not those inside a character class)."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "-" and not in_class:
            continue
        out.append(ch)
    return "".join(out)


def _windows(texts: Iterable[str]) -> Iterable[str]:
    for text in texts:
        flat = compact(text)
        width = ASCII_WINDOW if flat.isascii() else CJK_WINDOW
        step = max(1, width // 4)
        yield from (flat[i : i + width] for i in range(0, max(len(flat) - width, 0) + 1, step))
