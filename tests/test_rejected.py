"""Clicks the control plane refuses: set aside up to a cap, counted, and replayable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from clickgate.v1 import ingest_pb2

from edge.journal import Journal, JournalReader, ShipStats, claim_slot
from edge.metrics import AgentStats, EdgeMetrics
from edge.rejected import FILE, REPLAYING, RejectedLog, read_records
from edge.replay import replay
from edge.settings import EdgeSettings
from edge.shipper import Shipper
from tests.cluster import free_port


class RefusingStub:
    """Stands in for the control plane's Ingest stub: refuses every record as unknown_key."""

    async def IngestClicks(self, request: Any, **_: Any) -> Any:  # the name gRPC gives it
        rejected = [
            ingest_pb2.RejectedClick(index=i, reason="unknown_key")
            for i in range(len(request.records))
        ]
        return ingest_pb2.IngestClicksReply(rejected=rejected)


def journal_with(root: Path, count: int) -> tuple[JournalReader, ShipStats]:
    slot, _lock = claim_slot(root)
    journal = Journal(slot, EdgeMetrics(), 1 << 16, 1 << 20)
    for n in range(count):
        journal.append((n.to_bytes(16, "big"), n, "host", "x" * 60))
    journal.sync()
    stats = ShipStats()
    return JournalReader(slot, stats), stats


def test_refused_clicks_are_set_aside_until_the_cap_then_dropped_and_counted(
    tmp_path: Path,
) -> None:
    reader, stats = journal_with(tmp_path, 10)
    record_size = len(reader.read_batch(1).records[0]) + 4
    settings = EdgeSettings(rejected_max_bytes=record_size * 6 + 3)

    async def ship() -> int:  # a grpc.aio channel belongs to a running event loop
        channel = grpc.aio.insecure_channel("127.0.0.1:9")
        shipper = Shipper(settings, reader, stats, channel)
        shipper.stub = RefusingStub()  # type: ignore[assignment]
        shipped = await shipper.ship_once()
        await channel.close(None)
        return shipped

    assert asyncio.run(ship()) == 10
    assert reader.read_batch(10).records == []  # trimmed: not retried forever
    assert len(read_records(tmp_path / FILE)) == 6  # the oldest refusals are kept
    assert (stats.set_aside, stats.set_aside_dropped) == (6, 4)
    metrics = EdgeMetrics().render(AgentStats(set_aside=6, set_aside_dropped=4))
    assert "clickgate_edge_clicks_set_aside_total 6" in metrics
    assert 'clickgate_edge_clicks_dropped_total{reason="rejected_log_full"} 4' in metrics


def test_a_torn_last_frame_is_left_out(tmp_path: Path) -> None:
    log = RejectedLog(tmp_path, 1 << 20)
    assert log.append([b"one", b"two"]) == 2
    with open(log.path, "ab") as f:
        f.write((100).to_bytes(4, "little") + b"cut short")
    assert read_records(log.path) == [b"one", b"two"]


def test_a_replay_the_control_plane_cannot_take_keeps_every_record(tmp_path: Path) -> None:
    journal_root = tmp_path / "journal"
    journal_root.mkdir()
    log = RejectedLog(journal_root, 1 << 20)
    log.append([b"a", b"b", b"c"])
    settings = EdgeSettings(
        data_dir=str(tmp_path), control_grpc=f"127.0.0.1:{free_port()}", ship_deadline=2
    )
    result = replay(settings)
    assert result.unsent == 3 and result.replayed == 0
    assert "UNAVAILABLE" in result.error
    assert read_records(log.path) == [b"a", b"b", b"c"]
    assert not (journal_root / REPLAYING).exists()


def test_a_replay_that_died_is_resumed_before_new_refusals(tmp_path: Path) -> None:
    log = RejectedLog(tmp_path, 1 << 20)
    log.append([b"old"])
    first = log.take()
    assert first is not None and first.name == REPLAYING
    log.append([b"new"])  # the agent sets more aside while the replay runs, then it dies
    again = log.take()
    assert again == first and read_records(again) == [b"old"]
    assert read_records(log.path) == [b"new"]


def test_replay_with_nothing_set_aside_says_so(tmp_path: Path, capsys: Any) -> None:
    from control.cli import main

    env = pytest.MonkeyPatch()
    env.setenv("CLICKGATE_EDGE_DATA_DIR", str(tmp_path))
    try:
        assert main(["replay-rejected"]) == 0
    finally:
        env.undo()
    assert json.loads(capsys.readouterr().out)["replayed"] == 0
