"""A tiny run of bench/stats.py: loads, rebuilds rollups, and rollups agree with raw clicks."""

from __future__ import annotations

import pytest

from bench import stats


def test_stats_bench_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--clicks", "3000", "--tenants", "3", "--days", "7", "--repeat", "2"]
    stats.main([*args, "--raw-repeat", "1", "--only", "sqlite"])  # raises on disagreement
    out = capsys.readouterr().out
    assert '"bench": "stats"' in out and "daily_berlin" in out
