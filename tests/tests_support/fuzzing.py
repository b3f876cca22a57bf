"""Shared settings of the fuzz tests (tests/unit/fuzz).

Derandomized and without an example database, so a run in CI tries exactly the inputs a run
on a laptop tried: a failure found once is found again, and the suite's run time is fixed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hypothesis import HealthCheck, settings

_MORE = int(os.environ.get("FUZZ_MORE", "1"))
"""Multiplies every example count: ``FUZZ_MORE=20`` when hunting, 1 (fixed) in CI."""

FEW = settings(
    max_examples=60 * _MORE,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
"""For inputs that are cheap to check (a parser, a serde)."""

SOME = settings(FEW, max_examples=25 * _MORE)
"""For inputs that cost a file system round trip or a CLI invocation each."""


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256: equal before and after means untouched."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
