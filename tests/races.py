"""A concurrent request that wins a race, staged deterministically for API tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import ModuleType

import pytest


def commits_first(monkeypatch: pytest.MonkeyPatch, module: ModuleType, db: Path, sql: str) -> None:
    """Have `sql` committed from another connection the next time `module` reads the
    clock (now_ms), which it does between its lookup and its insert: as if another
    request had committed the same row in between."""
    real_now = module.now_ms

    def other_request_commits_first() -> int:
        monkeypatch.setattr(module, "now_ms", real_now)
        with sqlite3.connect(db) as connection:
            connection.execute(sql)
        return int(real_now())

    monkeypatch.setattr(module, "now_ms", other_request_commits_first)
