"""Periodic jobs (control plane, edge worker) survive an unexpected error and run again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from control import privacy, rpc
from edge.background import every


def run_until_called_twice(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    once: str,
    delays: tuple[str, ...],
    forever: Callable[[Any], Coroutine[Any, Any, None]],
) -> list[int]:
    """Make the job's single pass raise once, then succeed; stop at the second pass."""
    calls: list[int] = []
    second = asyncio.Event()

    def failing_then_working(sessions: Any) -> Any:
        calls.append(len(calls))
        if len(calls) == 1:
            raise KeyError("a row nobody expected")
        second.set()
        return 0 if module is privacy else []

    monkeypatch.setattr(module, once, failing_then_working)
    for name in delays:
        monkeypatch.setattr(module, name, 0.01)

    async def scenario() -> None:
        job = asyncio.create_task(forever(None))
        await asyncio.wait_for(second.wait(), 5)
        job.cancel()

    asyncio.run(scenario())
    return calls


def test_retention_job_survives_an_unexpected_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        calls = run_until_called_twice(
            monkeypatch,
            privacy,
            "_retention_once",
            ("RETENTION_INTERVAL_SECONDS", "RETENTION_RETRY_SECONDS"),
            privacy.retention_forever,
        )
    assert calls == [0, 1]
    assert "retention failed" in caplog.text and "a row nobody expected" in caplog.text


def test_key_promotion_job_survives_an_unexpected_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        calls = run_until_called_twice(
            monkeypatch, rpc, "_promote_once", ("PROMOTE_SECONDS",), rpc.promote_keys_forever
        )
    assert calls == [0, 1]
    assert "key promotion failed" in caplog.text and "a row nobody expected" in caplog.text


def test_edge_worker_background_job_survives_an_unexpected_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    second = asyncio.Event()

    def reload_config() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise ValueError("a snapshot nobody expected")
        second.set()

    async def scenario() -> None:
        job = asyncio.create_task(every(0.01, reload_config))
        await asyncio.wait_for(second.wait(), 5)
        job.cancel()

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert calls == [0, 1]
    assert "background job failed" in caplog.text and "a snapshot nobody expected" in caplog.text
