"""The bounded set of threads the bot is part of."""

from __future__ import annotations

from adapters.slack.threads import KnownThreads


def test_known_threads_forget_the_least_recently_used() -> None:
    threads = KnownThreads(capacity=2)
    threads.add("C1", "1.0")
    threads.add("C1", "2.0")
    assert ("C1", "1.0") in threads  # touch: 2.0 is now the oldest
    threads.add("C2", "3.0")
    assert ("C1", "2.0") not in threads
    assert ("C1", "1.0") in threads and ("C2", "3.0") in threads
    assert len(threads) == 2 and ("C9", "1.0") not in threads
