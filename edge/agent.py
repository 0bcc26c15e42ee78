"""The edge agent: one process beside the Granian workers that syncs config and ships clicks.

Workers only verify, journal and redirect; everything that talks to the control plane
runs here, in its own process, so it never takes the workers' GIL. They meet in files:
- the sealed config snapshot: the agent writes it, workers poll and load it, and
  each worker writes the revision it loaded into its slot (``slot-N/revision``);
  the agent acks a revision only when every live worker holds it;
- the journal slots: workers append, the agent reads, ships and deletes segments;
- ``agent-stats.json``: the agent's counters, merged into the workers' /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from edge.config import EdgeConfig, load_snapshot
from edge.journal import JournalReader, ShipStats, slot_alive
from edge.metrics import AgentStats, write_agent_stats
from edge.record import decode_record
from edge.sealing import Sealer, parse_key
from edge.settings import EdgeSettings, load_edge_settings
from edge.shipper import Shipper, backoff
from edge.sync import acknowledge_forever, watch_config

log = logging.getLogger("clickgate.edge.agent")
# A dead control plane is noticed within this on an idle connection (the control plane
# allows it: control.rpc.MIN_PING_INTERVAL_MS).
KEEPALIVE_MS = 20_000


class AgentState:
    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.journal_root = self.data_dir / "journal"
        self.sealer = Sealer(parse_key(settings.snapshot_key))
        self.config: EdgeConfig | None = load_snapshot(self.data_dir, self.sealer)
        self.stats = ShipStats()

    def live_slots(self) -> list[Path]:
        return [s for s in sorted(self.journal_root.glob("slot-*")) if slot_alive(s)]

    def workers_hold(self, revision: int) -> bool:
        for slot in self.live_slots():
            try:
                if int((slot / "revision").read_text() or 0) < revision:
                    return False
            except (OSError, ValueError):
                return False
        return True


class ShipLoop:
    """One shipper per slot directory, round robin; size and age triggers."""

    def __init__(self, state: AgentState, channel: grpc.aio.Channel) -> None:
        self.state, self.channel = state, channel
        self.shippers: dict[Path, Shipper] = {}

    def _shippers(self) -> list[Shipper]:
        for slot in sorted(self.state.journal_root.glob("slot-*")):
            if slot not in self.shippers:
                reader = JournalReader(slot, self.state.stats)
                self.shippers[slot] = Shipper(
                    self.state.settings, reader, self.state.stats, self.channel
                )
        return list(self.shippers.values())

    async def run(self, stop: asyncio.Event) -> None:
        settings, failures = self.state.settings, 0
        while not stop.is_set():
            results = [await s.ship_once() for s in self._shippers()]
            if any(r < 0 for r in results):
                failures += 1
                delay = backoff(failures, settings.ship_max_backoff)
            elif any(r >= settings.ship_batch for r in results):
                failures = 0
                continue  # a full batch (size trigger): more are waiting
            else:
                failures, delay = 0, settings.ship_interval  # age trigger
                for shipper in self.shippers.values():
                    shipper.reader.drop_expired(settings.journal_max_age)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def drain(self, deadline: float) -> None:
        """At shutdown: ship what is left until done, failing, or out of time."""
        while time.monotonic() < deadline:
            remaining = max(0.1, deadline - time.monotonic())
            results = [await s.ship_once(timeout=remaining) for s in self._shippers()]
            if all(r <= 0 for r in results):
                return


async def supervised(
    name: str,
    job: Callable[[], Awaitable[None]],
    stats: ShipStats,
    pause: Callable[[int], float] = backoff,
) -> None:
    """Run a background job until it returns; restart it after an unexpected error.

    Without this, one bad moment (a full disk, a file gone, a terminator's socket
    refusing) would end the task silently and stop shipping or config sync until the
    agent restarted, while the workers went on journaling. Cancellation still ends it.
    """
    failures = 0
    while True:
        try:
            await job()
            return
        except Exception:
            failures += 1
            stats.job_failures += 1
            log.exception("agent job %s failed; restarting it", name)
            await asyncio.sleep(pause(failures))


async def write_stats_forever(state: AgentState, loop: ShipLoop) -> None:
    while True:
        write_agent_stats(state.data_dir, snapshot_stats(state, loop))
        await asyncio.sleep(0.5)


def snapshot_stats(state: AgentState, loop: ShipLoop) -> AgentStats:
    s = state.stats
    journal_bytes, oldest = 0, 0
    for shipper in loop.shippers.values():
        journal_bytes += shipper.reader.bytes_on_disk()
        head = shipper.reader.read_batch(1, max_bytes=65536).records
        if head:
            with contextlib.suppress(ValueError):
                first = decode_record(head[0]).time_ms
                oldest = min(oldest, first) if oldest else first
    return AgentStats(
        shipped=s.shipped,
        ship_failures=s.ship_failures,
        set_aside=s.set_aside,
        set_aside_dropped=s.set_aside_dropped,
        expired=s.expired,
        corrupt=s.corrupt,
        job_failures=s.job_failures,
        journal_bytes=journal_bytes,
        oldest_unshipped_ms=oldest,
        written_ms=int(time.time() * 1000),
    )


def channel_options(settings: EdgeSettings) -> list[tuple[str, int]]:
    """gRPC channel options: keepalive, and reconnects no further apart than the setting.

    gRPC's own reconnect backoff grows to 120 s, and a call on a channel in backoff fails
    at once: after a long control-plane outage (a rolling update) edges came back up to
    ~30 s late, and so did revocations, whatever CLICKGATE_EDGE_SHIP_MAX_BACKOFF said.
    """
    cap_ms = max(1, int(settings.ship_max_backoff * 1000))
    return [
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.initial_reconnect_backoff_ms", min(200, cap_ms)),
        ("grpc.min_reconnect_backoff_ms", min(200, cap_ms)),
        ("grpc.max_reconnect_backoff_ms", cap_ms),
    ]


async def run(settings: EdgeSettings) -> None:
    state = AgentState(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # `clickgate edge` starts us with SIGTERM blocked, so a stop during start-up waited.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    channel = grpc.aio.insecure_channel(settings.control_grpc, options=channel_options(settings))
    ship = ShipLoop(state, channel)
    jobs: dict[str, Callable[[], Awaitable[None]]] = {
        "config": lambda: watch_config(state, channel),
        "ack": lambda: acknowledge_forever(state, channel),
        "stats": lambda: write_stats_forever(state, ship),
        "ship": lambda: ship.run(stop),
    }
    tasks = [asyncio.create_task(supervised(n, j, state.stats)) for n, j in jobs.items()]
    await stop.wait()
    deadline = time.monotonic() + settings.grace * 0.8
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await ship.drain(deadline)
    write_agent_stats(state.data_dir, snapshot_stats(state, ship))
    await channel.close(None)


def main() -> None:
    """Entry point of the agent process, started by `clickgate edge`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent decides
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_edge_settings()
    os.nice(settings.agent_nice)  # the redirect path comes first (see EdgeSettings.agent_nice)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
