"""Head-of-line blocking (issue 12, finding 5): one chat told "429, retry after 20 s" must
not delay other chats' replies.

    python -m bench.lanes [--seconds 25] [--rate 20] [--chats 40] [--repeat 1]

The real dispatcher and a durable SQLite store; a platform double that takes 40 ms per send
(about a Telegram round trip). Replies are queued at ``--rate`` a second over ``--chats``
chats for ``--seconds``; the latency of a reply is from its commit to the outbox to its
delivery. Run twice: once with no limits, once with one chat answered "429, retry after
20 s" on every send for the first 20 s. Prints p50/p95/max of the other chats' replies.
With ``--repeat N`` the pair runs N times (alternating, so a load swing hits both) and the
median of the p95 changes is printed too: on a shared machine one pair is mostly noise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from core.errors import RateLimitedError
from core.model.decision import Completion, Decision, DecisionKind
from core.model.turn import ConversationKey, Reply
from core.ports import DeliveryReceipt, OutboundMessage
from core.runtime.dispatcher import Dispatcher
from core.store.queue import InboxQueue
from core.store.store import Store
from tests.conftest import make_turn

SLOW_CHAT = "chat-0"


class Platform:
    def __init__(self, throttle_s: float) -> None:
        self.until = time.monotonic() + throttle_s
        self.delivered: dict[str, float] = {}

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        await asyncio.sleep(0.04)
        chat = message.reply.key.chat_id
        if chat == SLOW_CHAT and time.monotonic() < self.until:
            raise RateLimitedError("429 Too Many Requests", retry_after=20)
        self.delivered[message.reply.text] = time.monotonic()
        return DeliveryReceipt((str(message.outbox_id),))

    retry_schedule = None


async def _run(seconds: float, rate: float, chats: int, throttle_s: float) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(f"sqlite:///{Path(folder) / 'kefu.db'}")
        platform = Platform(throttle_s)
        dispatcher = Dispatcher(store, {"bench": platform}, poll_interval_s=0.05)
        queue = InboxQueue(store, "bench")
        queued: dict[str, float] = {}
        await dispatcher.start()
        for n in range(int(seconds * rate)):
            chat = f"chat-{n % chats}"
            key = ConversationKey("bench", chat)
            await store.put(make_turn("q", chat=chat, platform="bench"))
            (claim,) = await queue.claim(1)
            reply = Reply(key, f"{chat} reply {n}")
            await queue.complete(claim, key, Completion((reply,), Decision(DecisionKind.ANSWER)))
            queued[reply.text] = time.monotonic()
            dispatcher.wake()
            await asyncio.sleep(1 / rate)
        others = [t for t in queued if not t.startswith(SLOW_CHAT + " ")]
        deadline = time.monotonic() + 30
        while any(t not in platform.delivered for t in others) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await dispatcher.stop()
        await queue.close()
        await store.close()
    return [platform.delivered[t] - queued[t] for t in others if t in platform.delivered]


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (f"{len(ordered)} replies: p50 {statistics.median(ordered) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=25)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    changes = []
    for _ in range(max(1, args.repeat)):
        base = asyncio.run(_run(args.seconds, args.rate, args.chats, throttle_s=0))
        slow = asyncio.run(_run(args.seconds, args.rate, args.chats, throttle_s=20))
        print(f"no chat limited:                {_summary(base)}")
        print(f"{SLOW_CHAT} told to wait 20 s:   {_summary(slow)}")
        b95 = sorted(base)[int(0.95 * (len(base) - 1))]
        s95 = sorted(slow)[int(0.95 * (len(slow) - 1))]
        changes.append(100 * (s95 - b95) / b95)
        print(f"other chats' p95 changed by {changes[-1]:+.1f} % (target: within 20 %)")
    if len(changes) > 1:
        print(f"median change over {len(changes)} pairs: {statistics.median(changes):+.1f} %")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
