"""Ships journal batches to the control plane over gRPC; trims only after a commit."""

from __future__ import annotations

import logging
import random

import grpc
from clickgate.v1 import ingest_pb2, ingest_pb2_grpc

from edge.journal import JournalReader, ShipStats
from edge.rejected import RejectedLog
from edge.settings import EdgeSettings

log = logging.getLogger("clickgate.edge.shipper")

MAX_BACKOFF = 30.0


class Shipper:
    """Ships one slot's journal (the agent runs one per worker slot)."""

    def __init__(
        self,
        settings: EdgeSettings,
        reader: JournalReader,
        stats: ShipStats,
        channel: grpc.aio.Channel,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.stats = stats
        self.stub = ingest_pb2_grpc.IngestStub(channel)
        self.metadata = auth_metadata(settings.control_token)
        self.failures = 0
        self.rejected = RejectedLog(reader.slot.parent, settings.rejected_max_bytes)

    async def ship_once(self, timeout: float | None = None) -> int:
        """Ship one batch; the number of records committed, or -1 when it must be retried."""
        batch = self.reader.read_batch(self.settings.ship_batch)
        if not batch.records:
            return 0
        request = ingest_pb2.IngestClicksRequest(
            edge_id=self.settings.node_id, records=batch.records
        )
        try:
            reply = await self.stub.IngestClicks(
                request, timeout=timeout or self.settings.ship_deadline, metadata=self.metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                self.failures += 1
                self.stats.ship_failures += 1
                log.warning("shipping %d clicks failed: %s", len(batch.records), exc.code())
                return -1
            self._set_aside(batch.records, f"batch refused: {exc.details()}")
            reply = ingest_pb2.IngestClicksReply()
        else:
            rejected = [batch.records[r.index] for r in reply.rejected]
            if rejected:
                self._set_aside(rejected, ", ".join(r.reason for r in reply.rejected))
        self.reader.commit(batch.end)
        self.failures = 0
        self.stats.shipped += reply.inserted + reply.duplicates
        return len(batch.records)

    def _set_aside(self, records: list[bytes], reason: str) -> None:
        """Keep refused records for an operator instead of retrying them forever."""
        kept = self.rejected.append(records)
        self.stats.set_aside += kept
        self.stats.set_aside_dropped += len(records) - kept
        log.error(
            "the control plane refused %d clicks (%s): %d set aside in %s%s",
            len(records),
            reason,
            kept,
            self.rejected.path,
            ""
            if kept == len(records)
            else ", the rest dropped (CLICKGATE_EDGE_REJECTED_MAX_BYTES)",
        )


def backoff(failures: int, cap: float = MAX_BACKOFF) -> float:
    """Exponential backoff with full jitter, capped at `cap` seconds."""
    return random.uniform(0, min(cap, 0.2 * 2 ** min(failures, 10)))


def auth_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()
