"""A worker process whose brain finds every answer weak and hands off after 2 in a row.

    python -m tests.runtime.failing_brain_worker STORE_URL

It answers what is in the inbox, prints ``idle`` and exits; the repeated-failure rule
reads only the durable counter it is given (``TurnContext.failures``).
"""

from __future__ import annotations

import asyncio
import sys

from core.answering.answer import Answerer
from core.answering.bot import Assessment, HandoffDecision, Prepared, TurnContext
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.decision import HandoffKind
from core.model.turn import Confidence, Role, Turn
from core.ports import AdapterContext
from core.runtime.runtime import Runtime, RuntimeOptions
from core.store.store import Store
from tests.crash_worker import FileSinkAdapter
from tests.handoff.helpers import ThreadDesk

HANDOFF_AFTER = 2


class WeakBrain(PromptBrain):
    async def prepare(self, turn: Turn, context: TurnContext) -> Prepared:
        if context.failures >= HANDOFF_AFTER:
            reason = f"{context.failures} weak answers in a row"
            return Prepared(
                messages=(), handoff=HandoffDecision((reason,), HandoffKind.REPEATED_FAILURE)
            )
        return await super().prepare(turn, context)

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, confidence: Confidence
    ) -> Assessment:
        return Assessment(confidence=confidence, weak=True)


async def main(url: str, sink: str) -> None:
    store = await Store.open(url)
    brain, engine = WeakBrain(), StubEngine()
    # A staff desk, so the third turn is a real handoff (without one it would be the contact).
    answerer = Answerer(
        store, engine, {Role.CUSTOMER: brain, Role.STAFF: brain}, desks=[ThreadDesk()]
    )
    adapter = FileSinkAdapter(AdapterContext(inbox=store), sink)
    runtime = Runtime(store, engine, answerer, {"sink": adapter},
                      RuntimeOptions(serve_http=False, poll_interval_s=0.05))  # fmt: skip
    await runtime.start()
    await runtime.wait_until_idle(60)
    await runtime.stop()
    await store.close()
    print("idle", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
