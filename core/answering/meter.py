"""Recent generation throughput, for the operator desk's engine panel."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Throughput:
    """Tokens written per second over the recent answers.

    Attributes:
        answers: How many answers the figure covers.
        tokens: Tokens they wrote.
        seconds: Time they took, from request to last token.
    """

    answers: int
    tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


class ThroughputMeter:
    """Keeps the last ``size`` answers' token counts and durations.

    Args:
        size: How many answers to remember.
        window_s: Answers older than this are not "recent".
    """

    def __init__(self, size: int = 50, window_s: float = 600.0) -> None:
        self.window_s = window_s
        self._answers: deque[tuple[float, int, float]] = deque(maxlen=size)

    def record(self, tokens: int, seconds: float) -> None:
        self._answers.append((time.monotonic(), tokens, seconds))

    def recent(self) -> Throughput:
        since = time.monotonic() - self.window_s
        kept = [(t, s) for at, t, s in self._answers if at >= since]
        return Throughput(len(kept), sum(t for t, _ in kept), sum(s for _, s in kept))
