"""Periodic jobs (control plane, edge worker) survive an unexpected error and run again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from control import privacy, rpc
from control.acme import jobs
from control.settings import ControlSettings
from edge.background import every
from tests.cluster import MASTER_KEY


class FailsOnce:
    """A job's single pass that raises once, then works; `second` is set on its second call."""

    def __init__(self, error: Exception, result: Any = None) -> None:
        self.error, self.result = error, result
        self.calls: list[int] = []
        self.second = asyncio.Event()

    def __call__(self, *args: Any) -> Any:
        self.calls.append(len(self.calls))
        if len(self.calls) == 1:
            raise self.error
        self.second.set()
        return self.result


def run_until_second_call(job: FailsOnce, loop: Coroutine[Any, Any, None]) -> list[int]:
    """Run a job loop until the job's second pass, then cancel it; the calls seen."""

    async def scenario() -> None:
        task = asyncio.create_task(loop)
        await asyncio.wait_for(job.second.wait(), 5)
        task.cancel()

    asyncio.run(scenario())
    return job.calls


def run_until_called_twice(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    once: str,
    delays: tuple[str, ...],
    forever: Callable[[Any], Coroutine[Any, Any, None]],
) -> list[int]:
    """Make the job's single pass raise once, then succeed; stop at the second pass."""
    job = FailsOnce(KeyError("a row nobody expected"), 0 if module is privacy else [])
    monkeypatch.setattr(module, once, job)
    for name in delays:
        monkeypatch.setattr(module, name, 0.01)
    return run_until_second_call(job, forever(None))


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
    reload_config = FailsOnce(ValueError("a snapshot nobody expected"))
    with caplog.at_level(logging.ERROR):
        calls = run_until_second_call(reload_config, every(0.01, reload_config))
    assert calls == [0, 1]
    assert "background job failed" in caplog.text and "a snapshot nobody expected" in caplog.text


def test_a_stopping_control_plane_does_not_wait_for_a_whole_round_of_dns_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each check of a round runs in one thread that shutdown waits for: with a resolver
    that does not answer (3 s a check, up to 50 due) that outlasted the pod's grace."""
    checked: list[int] = []

    def slow_check(settings: Any, sessions: Any, domain_id: int) -> None:
        time.sleep(0.3)  # a resolver timing out
        checked.append(domain_id)

    monkeypatch.setattr(jobs, "due_for_check", lambda session: list(range(20)))
    monkeypatch.setattr(jobs, "claim_check", lambda session, domain_id: True)
    monkeypatch.setattr(jobs, "check_now", slow_check)
    settings = ControlSettings(master_key=MASTER_KEY, cname_target="edge.clickgate.test")
    sessions = sessionmaker()  # due_for_check, the one caller, is replaced above

    async def stop_during_a_round() -> float:
        task = asyncio.create_task(jobs.dns_checks_forever(settings, sessions))
        await asyncio.sleep(0.45)
        task.cancel()
        stopped = time.monotonic()
        await asyncio.get_running_loop().shutdown_default_executor()  # as asyncio.run does
        return time.monotonic() - stopped

    waited = asyncio.run(stop_during_a_round())
    assert waited < 1.0 and len(checked) <= 3, (waited, checked)
