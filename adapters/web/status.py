"""The desk's system panel: queues, dead letters, the engine, the knowledge."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from core.answering.bot import BotBrain
from core.answering.meter import ThroughputMeter
from core.engines.base import Engine
from core.knowledge.base import KnowledgeHolder
from core.knowledge.brain import KnowledgeBrain
from core.store.console import ConsoleReads
from core.store.deadletters import DeadLetters


@dataclass(frozen=True, slots=True)
class EngineFacts:
    """What the settings say of the engine (the engine itself reports its model)."""

    kind: str
    device: str
    max_batch_size: int


def gpu_memory() -> dict[str, Any] | None:
    """The GPU's name and memory in use, when this process runs torch on CUDA."""
    torch = sys.modules.get("torch")  # never imported here: only if an engine loaded it
    if torch is None or not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return {"name": torch.cuda.get_device_name(0), "used_bytes": total - free, "total_bytes": total}


def knowledge_holder(brain: BotBrain | None) -> KnowledgeHolder | None:
    """The customer brain's knowledge, when it answers from a knowledge folder."""
    return brain.holder if isinstance(brain, KnowledgeBrain) else None


class SystemStatus:
    """Reads the figures of the system panel.

    Args:
        reads: Console queries (queue depths).
        letters: Dead letters.
        engine: The answering engine.
        meter: Recent answers' throughput.
        facts: Engine settings.
        holder: The shop's knowledge (None for a brain without a knowledge folder).
    """

    def __init__(
        self,
        reads: ConsoleReads,
        letters: DeadLetters,
        engine: Engine,
        meter: ThroughputMeter,
        facts: EngineFacts,
        holder: KnowledgeHolder | None,
    ) -> None:
        self.reads, self.letters, self.engine = reads, letters, engine
        self.meter, self.facts, self.holder = meter, facts, holder

    async def snapshot(self) -> dict[str, Any]:
        dead = await self.letters.listed(20)
        recent = self.meter.recent()
        gpu = gpu_memory()
        return {
            "queues": await self.reads.depths(),
            "dead_letters": [
                {"ref": d.ref, "conversation": d.conversation, "attempts": d.attempts,
                 "error": d.error[:200], "text": d.text, "at": d.at.isoformat() if d.at else None}
                for d in dead
            ],
            "engine": {
                "model": self.engine.model_id, "kind": self.facts.kind,
                "device": self._device(gpu), "gpu": gpu,
                "max_batch_size": self.facts.max_batch_size,
                "recent_answers": recent.answers, "recent_tokens": recent.tokens,
                "tokens_per_second": recent.tokens_per_second,
            },
            "knowledge": self.knowledge(),
        }  # fmt: skip

    def _device(self, gpu: dict[str, Any] | None) -> str:
        """Where the model runs: this process's GPU, a remote server, or this CPU."""
        if gpu:
            return "cuda"
        if self.facts.kind == "openai":
            return "remote"
        return "cpu" if self.facts.device == "auto" else self.facts.device

    def knowledge(self) -> dict[str, Any] | None:
        if self.holder is None:
            return None
        knowledge = self.holder.current.knowledge
        return {
            "folder": str(self.holder.folder),
            "loaded_at": self.holder.loaded_at.isoformat(),
            "products": len(knowledge.products),
            "faq": len(knowledge.faq),
            "policies": len(knowledge.policies),
        }

    async def reload_knowledge(self) -> dict[str, Any] | None:
        """Load the folder again; the old knowledge stays unless the new one is all valid.

        Raises:
            ConfigError: a file is invalid (named with its line); nothing was swapped.
        """
        if self.holder is not None:
            await self.holder.reload_async()
        return self.knowledge()
