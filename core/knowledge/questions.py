"""Several questions in one message ("Do you ship to Shanghai, and how long is the warranty
on the Pulse Band 5?", "SSD 2TB什么时候有货？另外可以开发票吗"): split them, answer each with
the tools or a quoted FAQ/policy passage, and send the answers together.

A later question may lean on an earlier one ("水壶容量多大？能放洗碗机吗" asks the second
question about the same kettle), so each part is answered with the earlier parts as its
conversation. When any part cannot be answered this way, the message is answered as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from core.answering.bot import Fact
from core.knowledge.textproc import tokenize

_ENDS = re.compile(r"(?<=[?？!！。；;])\s*|\s*(?:另外|此外|还有就是|顺便问一下)\s*")
# ", and how long ...": a new question starts after the comma.
_AND_QUESTION = re.compile(
    r",\s*(?:and|also)\s+(?=(?:how|what|when|where|which|who|why|do|does|did|is|are|can|could|will|would)\b)",
    re.IGNORECASE,
)
MAX_PARTS = 4

PartAnswer = tuple[str, tuple[Fact, ...]]
AnswerOne = Callable[[str, Sequence[str]], Awaitable[PartAnswer | None]]


def split_questions(text: str) -> list[str]:
    """The questions of ``text``, in order (one item when it asks one thing)."""
    pieces: list[str] = []
    for chunk in _ENDS.split(text):
        pieces.extend(_AND_QUESTION.split(chunk))
    parts = [p.strip(" ,，、") for p in pieces if p and p.strip(" ,，、")]
    parts = [p for p in parts if len(tokenize(p)) >= 1]
    return parts if 1 < len(parts) <= MAX_PARTS else [text]


async def answer_each(parts: Sequence[str], answer_one: AnswerOne) -> PartAnswer | None:
    """Every part's answer joined, or None when some part has no answer of its own."""
    replies: list[str] = []
    facts: list[Fact] = []
    for index, part in enumerate(parts):
        answered = await answer_one(part, parts[:index])
        if answered is None:
            return None
        reply, found = answered
        if reply not in replies:
            replies.append(reply)
        facts.extend(found)
    return "\n".join(replies), tuple(facts)
