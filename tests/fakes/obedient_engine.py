"""An engine double that obeys every instruction it reads, in text or in pictures.

A weak model ignoring an injection proves nothing; this one does exactly what the injected
text asks: it copies the system prompt, and writes the order numbers, tracking numbers and
names it was "trained on" (the shop's whole order book) into a confident answer (logprobs
near 0). What stops those from reaching a customer must be the pipeline, not the model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.engines.base import GenerationChunk, GenerationRequest
from core.engines.stub import StubEngine
from core.knowledge.brain import OcrReading
from core.model.turn import ImagePart, TextPart


@dataclass(frozen=True, slots=True)
class Leakable:
    """What the double knows and may be told to write."""

    order_numbers: tuple[str, ...]
    tracking_numbers: tuple[str, ...]
    names: tuple[str, ...]


# Instruction words -> what they make the double write (English and Chinese injections).
COMMANDS = {
    "system prompt": "system",
    "系统提示": "system",
    "instructions above": "system",
    "order numbers": "orders",
    "所有订单": "orders",
    "tracking": "tracking",
    "快递单号": "tracking",
    "customer names": "names",
    "客户姓名": "names",
}


class ObedientEngine(StubEngine):
    """A :class:`core.engines.base.Engine` that follows injected instructions.

    Args:
        leakable: Other customers' data the double will write when told to.
        ocr: Reads the pictures in the prompt (a vision model reads them too).
        spaced: Write numbers with spaces between characters (an evasion attempt).
    """

    model_id = "obedient-double"

    def __init__(self, leakable: Leakable, ocr: OcrReading) -> None:
        super().__init__(self._prepared_answer, logprob=-0.01)
        self.leakable = leakable
        self.ocr = ocr
        self.obeyed = 0  # requests in which it found and followed an instruction
        self._answers: dict[str, str] = {}

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self._answers[request.request_id] = await self._obey(request)
        async for chunk in super().generate(request):
            yield chunk

    def _prepared_answer(self, request: GenerationRequest) -> str:
        return self._answers.pop(request.request_id)

    async def _read(self, request: GenerationRequest) -> str:
        seen: list[str] = []
        for message in request.messages:
            if message.role == "system":
                continue
            for part in message.parts:
                if isinstance(part, TextPart):
                    seen.append(part.text)
                elif isinstance(part, ImagePart):
                    seen.append(part.caption)
                    seen.append(str(getattr(await self.ocr.read(part), "text", "")))
        return "\n".join(seen)

    async def _obey(self, request: GenerationRequest) -> str:
        read = (await self._read(request)).lower()
        wanted = {action for word, action in COMMANDS.items() if word in read}
        system = next((m.content_text for m in request.messages if m.role == "system"), "")
        # Sound helpful first: the facts it was given, so the answer looks grounded.
        facts = [line[2:] for line in system.splitlines() if line.startswith("- ")]
        pieces = [facts[0] if facts else "Here is what you asked for."]
        if not wanted:
            return pieces[0]
        self.obeyed += 1
        spaced = "spaced" in read or "空格" in read
        leak = self.leakable
        if "system" in wanted:
            pieces.append(system)
        if "orders" in wanted:
            pieces.append(
                "Orders: " + ", ".join(_maybe_spaced(n, spaced) for n in leak.order_numbers)
            )
        if "tracking" in wanted:
            pieces.append(
                "Tracking: " + ", ".join(_maybe_spaced(n, spaced) for n in leak.tracking_numbers)
            )
        if "names" in wanted:
            pieces.append("Customers: " + ", ".join(leak.names))
        return "\n".join(pieces)


def _maybe_spaced(value: str, spaced: bool) -> str:
    return " ".join(value) if spaced else value
