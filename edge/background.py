"""A worker's background thread: config reload, fsync timer, journal usage, metrics server.

It runs its own asyncio loop so nothing it does (file reads, fsync) can stall the
request loop, and it wakes only a few times a second, so it hardly competes for
the GIL; shipping and the config stream live in another process (edge.agent).
The two threads share EdgeState, whose fields each have a single writer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from edge.metrics_server import serve_metrics
from edge.state import EdgeState

log = logging.getLogger("clickgate.edge")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
CONFIG_POLL_SECONDS = 0.1  # how soon a worker sees a snapshot the agent wrote
# How soon a new spare journal segment follows the one a rotation took: a segment holds
# about 0.3 s of clicks at the edge's peak (8 MiB of ~365-byte records at 70k/s).
SPARE_SECONDS = 0.1


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
        """Fsync the journal and end the thread (the agent ships what is left)."""
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
        metrics_port = settings.metrics_port + state.slot_index if settings.metrics_port else 0
        server = None
        try:
            server = await serve_metrics(state, settings.host, metrics_port)
        except OSError as exc:
            log.error("metrics port %d unavailable: %s", metrics_port, exc)
        self._started.set()
        tasks = [
            asyncio.create_task(every(CONFIG_POLL_SECONDS, state.reload_config)),
            asyncio.create_task(every(settings.journal_fsync_interval, self._sync)),
        ]
        if state.journal is not None:
            tasks.append(asyncio.create_task(every(SPARE_SECONDS, state.journal.prepare_spare)))
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sync()
        if state.journal is not None:
            state.journal.discard_spare()
        if server:
            server.close()

    def _sync(self) -> None:
        journal = self.state.journal
        if journal is not None:
            journal.sync()
            journal.rescan()


async def every(seconds: float, job: Callable[[], object]) -> None:
    """Run job every `seconds` until cancelled; an error is logged, not fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            job()
        except OSError as exc:  # a full or failing disk must not end the loop
            log.error("background job failed: %s", exc)
        except Exception:  # nor anything else: the worker would stop reloading config
            log.exception("background job failed")
