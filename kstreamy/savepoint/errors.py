"""Errors about savepoints: each names the savepoint and what is wrong with it."""

from __future__ import annotations

from kstreamy.errors import KStreamyError


class SavepointError(KStreamyError):
    """A savepoint cannot be read, is damaged, or does not fit the application."""


class SavepointFormatError(SavepointError):
    """The manifest is missing, truncated, of an unknown version or malformed."""

    def __init__(self, location: str, problem: str) -> None:
        self.location = location
        self.problem = problem
        super().__init__(f"savepoint {location}: {problem}")


class SavepointCorruptedError(SavepointError):
    """Files listed in the manifest are missing or do not match their checksums."""

    def __init__(self, location: str, problems: list[str]) -> None:
        self.location = location
        self.problems = problems
        listing = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"savepoint {location} is damaged: {listing}{more}")


class SavepointCompatibilityError(SavepointError):
    """The savepoint's state cannot be given to this application's topology."""
