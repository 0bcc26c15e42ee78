"""Start the two long-running processes on Granian: the edge and the control plane."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from granian import Granian
from granian.constants import Interfaces, Loops

from control.settings import ControlSettings
from edge.sealing import new_key_text
from edge.settings import EdgeSettings

# After SIGTERM, Granian kills workers that are still draining grace + 1 s later; then
# the agent gets grace + 2 s to ship what is left (it aims for 0.8 * grace itself).
WORKER_KILL_MARGIN = 1
AGENT_WAIT_MARGIN = 2


def edge_stop_bound(settings: EdgeSettings) -> float:
    """The longest `clickgate edge` takes from SIGTERM to exit (a pod's grace period must
    cover this plus its preStop hook; tests/test_k8s.py checks the manifests)."""
    return (settings.grace + WORKER_KILL_MARGIN) + (settings.grace + AGENT_WAIT_MARGIN)


def serve_edge(settings: EdgeSettings) -> None:
    """The redirect edge: Granian workers (raw ASGI on uvloop) plus the edge agent process
    that syncs config and ships clicks (edge.agent). Workers read settings from env."""
    if not settings.snapshot_key:
        # Workers learn their config from the agent through the sealed snapshot file; with
        # no configured key, a per-run key that never touches the disk seals it.
        os.environ["CLICKGATE_EDGE_SNAPSHOT_KEY"] = new_key_text()
    agent = start_agent()
    try:
        _granian_edge(settings)
    finally:
        # Workers have drained and fsynced: now the agent ships what is left, then exits.
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(settings.grace + AGENT_WAIT_MARGIN)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


def start_agent(env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The edge agent process (edge.agent), with SIGTERM blocked (pending, not lost) until
    its handler is in place: a stop in the second it spends importing would otherwise
    kill it before it ships what the journal holds."""
    command = [sys.executable, "-m", "edge.agent"]
    return subprocess.Popen(command, env=env, preexec_fn=_block_sigterm)


def _block_sigterm() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # inherited across exec


def _granian_edge(settings: EdgeSettings) -> None:
    Granian(
        "edge.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        workers=settings.workers,
        log_access=False,
        backlog=4096,
        workers_kill_timeout=int(settings.grace) + WORKER_KILL_MARGIN,
        # A worker that dies (OOM kill, a crash in native code) is started again and
        # takes its journal slot back; the others serve on. Without this Granian stops
        # the whole edge. It still exits on a crash loop (a respawn dying within 5.5 s).
        respawn_failed_workers=True,
    ).serve()


def serve_control(settings: ControlSettings) -> None:
    """The control plane: HTTP API on Granian; the gRPC server runs in the same loop."""
    Granian(
        "control.api.app:create_app",
        factory=True,
        address=settings.api_host,
        port=settings.api_port,
        interface=Interfaces.ASGI,
        loop=Loops.asyncio,
        workers=1,
        log_access=False,
    ).serve()
