"""Start the two long-running processes on Granian: the edge and the control plane."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces, Loops

from control.settings import ControlSettings
from edge.settings import EdgeSettings


def serve_edge(settings: EdgeSettings) -> None:
    """The redirect edge: raw ASGI on uvloop; the worker reads its settings from env."""
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
        workers_kill_timeout=int(settings.grace) + 1,
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
