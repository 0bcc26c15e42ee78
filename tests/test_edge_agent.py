"""The edge agent's supervisor: an unexpected error restarts a job instead of ending it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from control.servers import start_agent
from edge.agent import supervised
from edge.journal import ShipStats
from edge.metrics import AgentStats, EdgeMetrics
from edge.sealing import new_key_text
from tests.cluster import free_port


def test_a_failing_job_is_restarted_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def job() -> None:
        calls.append(len(calls))
        if len(calls) < 3:
            raise OSError("No space left on device")

    stats = ShipStats()
    with caplog.at_level(logging.ERROR, logger="clickgate.edge.agent"):
        asyncio.run(asyncio.wait_for(supervised("ship", job, stats, pause=lambda n: 0.01), 5))
    assert calls == [0, 1, 2]  # ran again after each failure, until it returned
    assert stats.job_failures == 2
    assert "agent job ship failed; restarting it" in caplog.text
    assert "No space left on device" in caplog.text  # the traceback is in the log
    rendered = EdgeMetrics().render(AgentStats(job_failures=stats.job_failures))
    assert "clickgate_edge_agent_job_failures_total 2" in rendered


def test_cancelling_a_supervised_job_ends_it() -> None:
    started = asyncio.Event()

    async def job() -> None:
        started.set()
        await asyncio.sleep(3600)

    async def scenario() -> None:
        task = asyncio.create_task(supervised("config", job, ShipStats()))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_stop_while_the_agent_starts_waits_for_its_handler(tmp_path: Path) -> None:
    """SIGTERM sent the moment the agent is spawned (it is still importing): it stops the
    graceful way, writing its final stats, instead of dying of the signal unshipped."""
    env = {
        **os.environ,
        "CLICKGATE_EDGE_DATA_DIR": str(tmp_path),
        "CLICKGATE_EDGE_CONTROL_GRPC": f"127.0.0.1:{free_port()}",  # nobody there
        "CLICKGATE_EDGE_GRACE": "1",
        "CLICKGATE_EDGE_SNAPSHOT_KEY": new_key_text(),
    }
    agent = start_agent(env)
    try:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0  # -15 if the signal had found the default action
    finally:
        agent.kill()  # only if it hung: never leave it running
    assert (tmp_path / "agent-stats.json").exists()
