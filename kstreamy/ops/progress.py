"""How long operations report progress, without depending on a terminal library.

The command line renders it with rich; library callers and tests use :class:`NoProgress`.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, description: str, total: float | None = None) -> None:
        """A new step starts (``total`` units of work, if known)."""

    def advance(self, amount: float = 1) -> None:
        """Some units of the current step are done."""

    def log(self, message: str) -> None:
        """Tell the user something about the operation."""


class NoProgress:
    def begin(self, description: str, total: float | None = None) -> None:
        pass

    def advance(self, amount: float = 1) -> None:
        pass

    def log(self, message: str) -> None:
        pass
