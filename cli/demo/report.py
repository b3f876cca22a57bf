"""The demo's narration and its summary: PASS or FAIL per check, shown with rich."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Check:
    """One claim a scenario makes about its output, with what was expected and seen."""

    claim: str
    expected: Any
    seen: Any
    passed: bool


@dataclass
class StepResult:
    number: int
    title: str
    checks: list[Check] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    def check(self, claim: str, expected: Any, seen: Any, passed: bool | None = None) -> bool:
        ok = expected == seen if passed is None else passed
        self.checks.append(Check(claim, expected, seen, ok))
        return ok


class Narrator:
    """Says what the demo does, as it does it, on stdout."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._began = time.monotonic()

    @classmethod
    def buffered(cls, like: Narrator) -> Narrator:
        """A narrator that writes to memory, styled as ``like``, to be replayed later."""
        return cls(
            Console(
                file=io.StringIO(),
                width=like.console.width,
                color_system=like.console.color_system,
                force_terminal=like.console.is_terminal,
                highlight=False,
                soft_wrap=True,
            )
        )

    def replay(self, other: Narrator) -> None:
        """Write what ``other`` (a buffered narrator) said."""
        file = other.console.file
        assert isinstance(file, io.StringIO)
        self.console.file.write(file.getvalue())
        self.console.file.flush()

    def step(self, number: int, title: str, story: str) -> None:
        self._began = time.monotonic()
        self.console.rule(f"[bold]{number}. {title}")
        self.console.print(story, style="dim")

    def _at(self) -> str:
        return f"[dim]{time.monotonic() - self._began:5.1f}s[/]"

    def command(self, text: str) -> None:
        self.console.print(f"{self._at()} [cyan]$ {text}[/]")

    def note(self, text: str) -> None:
        self.console.print(f"{self._at()} {text}")

    def verdict(self, check: Check) -> None:
        mark = "[green]PASS[/]" if check.passed else "[red]FAIL[/]"
        if not check.passed:
            detail = f"  (expected {check.expected}, saw {check.seen})"
        else:
            seen = str(check.seen)
            detail = f"  [dim]({seen})[/]" if len(seen) <= 70 else ""
        self.console.print(f"  {mark} {check.claim}{detail}")

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        table = Table(title=title, title_justify="left", show_edge=False)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        self.console.print(table)

    def summary(self, results: list[StepResult]) -> None:
        table = Table(title="kstreamy demo: summary", title_justify="left")
        table.add_column("step")
        table.add_column("scenario")
        table.add_column("checks", justify="right")
        table.add_column("time", justify="right")
        table.add_column("result")
        for r in results:
            passed = sum(c.passed for c in r.checks)
            outcome = "[green]PASS[/]" if r.passed else "[red]FAIL[/]"
            if r.error:
                outcome += f" [red]{r.error.splitlines()[0][:70]}[/]"
            table.add_row(
                str(r.number), r.title, f"{passed}/{len(r.checks)}", f"{r.seconds:.1f}s", outcome
            )
        self.console.print(table)
