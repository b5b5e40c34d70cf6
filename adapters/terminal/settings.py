"""Terminal chat settings (section ``terminal``): ``main.py chat`` only, never ``serve``."""

from __future__ import annotations

from pydantic import BaseModel


class TerminalSettings(BaseModel):
    """The local chat in a terminal.

    Attributes:
        chat_id: The conversation's id in the store (``terminal|<chat_id>|``).
    """

    chat_id: str = "local"

    @property
    def configured(self) -> bool:
        """Never started by ``serve``: the terminal chat is ``main.py chat``."""
        return False
