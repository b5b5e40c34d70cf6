"""Recent throughput for the desk's engine panel."""

from __future__ import annotations

from core.answering.meter import ThroughputMeter


def test_recent_answers_only() -> None:
    meter = ThroughputMeter(size=3, window_s=600)
    assert meter.recent().tokens_per_second is None
    for tokens in (10, 20, 30, 40):
        meter.record(tokens, 1.0)
    recent = meter.recent()
    assert (recent.answers, recent.tokens, recent.tokens_per_second) == (3, 90, 30.0)
    assert ThroughputMeter(window_s=0).recent().answers == 0
