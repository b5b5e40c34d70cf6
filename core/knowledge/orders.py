"""Orders: where they come from, and who may see them.

:class:`OrderSource` is the shop's order system (a file for the demo, the shop's own HTTP
API in production). :class:`OrderLookup` is the only way the brains read orders, and it
binds every lookup to the asker's VERIFIED platform identity (``turn.key.channel`` and
``turn.sender.user_id``), never to anything written in a message. A customer asking about
another customer's order gets exactly what an unknown order number gets: nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from core.errors import KefuError
from core.knowledge.model import Identity, Order
from core.knowledge.ordernumbers import OrderNumbers
from core.model.turn import Role, Turn

log = logging.getLogger(__name__)


class OrderSourceError(KefuError):
    """The shop's order system could not be reached or answered nonsense."""

    code = "order_source_unavailable"
    user_message_key = "engine_unavailable"
    http_status = 503


class OrderSource(Protocol):
    """A shop's order system."""

    async def get(self, order_no: str) -> Order | None:
        """The order with this number, or None. Raises :class:`OrderSourceError`."""
        ...

    async def list_for(self, platform: str, user_id: str) -> list[Order]:
        """Orders of the customer with this platform identity, newest first."""
        ...


class FileOrderSource:
    """Orders loaded from the knowledge folder's ``orders.yaml`` (the demo shop)."""

    def __init__(self, orders: Iterable[Order], numbers: OrderNumbers | None = None) -> None:
        self._orders = {o.order_no: o for o in orders}
        self._numbers = numbers

    async def get(self, order_no: str) -> Order | None:
        """The order, however the number was typed (``wx 2026 001250``: case, spaces, dashes)."""
        canonical = self._numbers.canonical(order_no) if self._numbers else None
        return self._orders.get(canonical or order_no.strip().upper())

    async def list_for(self, platform: str, user_id: str) -> list[Order]:
        identity = Identity(platform, user_id)
        mine = [o for o in self._orders.values() if o.belongs_to(identity)]
        return sorted(mine, key=lambda o: (o.placed, o.order_no), reverse=True)


@dataclass(frozen=True, slots=True)
class Asker:
    """Who is asking, as verified by the platform adapter."""

    identity: Identity
    role: Role

    @classmethod
    def of(cls, turn: Turn) -> Asker:
        return cls(Identity(turn.key.channel, turn.sender.user_id), turn.sender.role)

    @property
    def is_staff(self) -> bool:
        return self.role is Role.STAFF


class OrderLookup:
    """Order access bound to the asker's identity.

    Customers see only their own orders; staff see every order.
    """

    def __init__(self, source: OrderSource) -> None:
        self._source = source

    async def find(self, order_no: str, asker: Asker) -> Order | None:
        """The order if it exists AND the asker may see it; otherwise None (indistinguishable)."""
        order = await self._source.get(order_no)
        if order is None:
            return None
        if asker.is_staff or order.belongs_to(asker.identity):
            return order
        # Logged for the shop (possible probing), never shown to the asker.
        log.info(
            "order %s requested by a %s user who does not own it", order_no, asker.identity.platform
        )
        return None

    async def mine(self, asker: Asker) -> list[Order]:
        """The asker's own orders (re-checked: a source must not leak others' orders)."""
        orders = await self._source.list_for(asker.identity.platform, asker.identity.user_id)
        return [o for o in orders if o.belongs_to(asker.identity)]
