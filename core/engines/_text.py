"""Torch-free text helpers shared by the engines: stop strings and byte-level detokenising."""

from __future__ import annotations

import codecs
from collections.abc import Sequence

REPLACEMENT = "\ufffd"  # what a tokenizer decodes a partial UTF-8 sequence to


class Utf8Stream:
    """Turns the bytes of streamed tokens into text without splitting characters.

    A token may end in the middle of a multi-byte UTF-8 character (CJK, emoji); the
    incremental decoder holds those bytes back until the character is complete.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        """What is still held back; a character cut off by the token limit is dropped."""
        return self._decoder.decode(b"", final=True).rstrip(REPLACEMENT)


class StopMatcher:
    """Releases text as it streams, holding back anything that may start a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add streamed text; return what is safe to emit. Sets ``stopped`` on a match."""
        if self.stopped:
            return ""
        if not self._stops:
            return text
        buffer = self._held + text
        cut = min((i for i in (buffer.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return buffer[:cut]
        keep = self._partial_suffix(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """Release held-back text at the end of generation (no stop string followed it)."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _partial_suffix(self, buffer: str) -> int:
        """Length of the longest suffix of ``buffer`` that is a proper prefix of a stop string."""
        for size in range(min(self._longest - 1, len(buffer)), 0, -1):
            tail = buffer[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
