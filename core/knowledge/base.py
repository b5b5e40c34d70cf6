"""A loaded shop, ready to answer: knowledge + search index + catalog + orders.

:class:`KnowledgeHolder` swaps a whole new :class:`KnowledgeBase` in only after it loaded
and validated completely, so a reload with a broken file keeps serving the old knowledge.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from core.knowledge.catalog import Catalog
from core.knowledge.linking import ProductLinker
from core.knowledge.loader import load_knowledge
from core.knowledge.model import Knowledge
from core.knowledge.ordernumbers import OrderNumbers
from core.knowledge.orders import FileOrderSource, OrderLookup, OrderSource
from core.knowledge.retrieval import RelevanceThresholds, Retriever

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """Everything the brain reads, built from one knowledge folder."""

    knowledge: Knowledge
    retriever: Retriever
    catalog: Catalog
    orders: OrderLookup
    linker: ProductLinker

    @classmethod
    def load(
        cls,
        folder: Path | str,
        thresholds: RelevanceThresholds | None = None,
        order_source: OrderSource | None = None,
    ) -> KnowledgeBase:
        """Load and index ``folder``.

        Args:
            folder: The knowledge folder.
            thresholds: Retrieval relevance thresholds.
            order_source: The shop's order system; defaults to the folder's orders.yaml.

        Raises:
            ConfigError: any file is invalid (with file and line).
        """
        knowledge = load_knowledge(folder)
        retriever = Retriever.for_knowledge(knowledge, thresholds)
        source = order_source or FileOrderSource(
            knowledge.orders, OrderNumbers(knowledge.shop.order_number_pattern)
        )
        return cls(
            knowledge, retriever, Catalog(knowledge), OrderLookup(source), ProductLinker(knowledge)
        )


class KnowledgeHolder:
    """Holds the current :class:`KnowledgeBase`; :meth:`reload` is all-or-nothing."""

    def __init__(
        self,
        folder: Path | str,
        thresholds: RelevanceThresholds | None = None,
        order_source: OrderSource | None = None,
    ) -> None:
        self.folder = Path(folder)
        self._thresholds = thresholds
        self._order_source = order_source
        self.current = KnowledgeBase.load(self.folder, thresholds, order_source)

    def reload(self) -> KnowledgeBase:
        """Load the folder again and swap it in.

        Raises:
            ConfigError: the folder is invalid now; the previous knowledge stays in use.
        """
        fresh = KnowledgeBase.load(self.folder, self._thresholds, self._order_source)
        self.current = fresh  # one reference assignment: readers see old or new, never half
        log.info(
            "knowledge reloaded from %s: %d products, %d FAQ",
            self.folder,
            len(fresh.knowledge.products),
            len(fresh.knowledge.faq),
        )
        return fresh

    async def reload_async(self) -> KnowledgeBase:
        """:meth:`reload` on a worker thread (parsing and indexing take about a second)."""
        return await asyncio.to_thread(self.reload)
