"""The edge's background thread: config stream, shipper, fsync timer, metrics server.

It runs its own asyncio loop so nothing it does (gRPC, file reads, fsync) can
stall the request loop; the two share only EdgeState, whose fields each have a
single writer (see edge.journal and edge.metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from edge.metrics_server import serve_metrics
from edge.shipper import Shipper
from edge.state import EdgeState
from edge.sync import watch_config

log = logging.getLogger("clickgate.edge")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Background:
    def __init__(self, state: EdgeState) -> None:
        self.state = state
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI lifespan: start the thread at startup, drain and stop it at shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:  # report to the server instead of serving half-started
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.state.shutting_down = True
                await asyncio.get_running_loop().run_in_executor(None, self.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        self.state.open_journal()
        self._thread = threading.Thread(target=self._run, name="clickgate-bg", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        """Flush and ship what we can within the grace period, then end the thread."""
        self.state.shutting_down = True
        if self._loop is None or self._stop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self.state.settings.grace + 1)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop = asyncio.Event()
        state, settings = self.state, self.state.settings
        channel = grpc.aio.insecure_channel(
            settings.control_grpc, options=[("grpc.keepalive_time_ms", 20000)]
        )
        metrics_port = settings.metrics_port + state.slot_index if settings.metrics_port else 0
        server = None
        try:
            server = await serve_metrics(state, settings.host, metrics_port)
        except OSError as exc:
            log.error("metrics port %d unavailable: %s", metrics_port, exc)
        self._started.set()
        shipper = Shipper(settings, state.reader, state.metrics, channel) if state.reader else None
        tasks = [asyncio.create_task(watch_config(state, channel))]
        tasks.append(asyncio.create_task(self._fsync_loop(stop)))
        if shipper:
            tasks.append(asyncio.create_task(shipper.run(stop)))
        await stop.wait()
        deadline = time.monotonic() + settings.grace * 0.8
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if state.journal:
            state.journal.sync()
        if shipper:
            await shipper.drain(deadline)
        if server:
            server.close()
        await channel.close(None)

    async def _fsync_loop(self, stop: asyncio.Event) -> None:
        journal = self.state.journal
        interval = self.state.settings.journal_fsync_interval
        while journal is not None and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            journal.sync()
