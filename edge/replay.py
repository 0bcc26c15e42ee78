"""`clickgate replay-rejected`: send an edge's set-aside clicks to the control plane again.

Safe to run while the edge serves and to run twice: the control plane stores a click
id once, so a click already stored comes back as a duplicate. Records it refuses again
go back to the rejected log (beyond its cap: nothing is dropped on a replay), and so do
the ones not yet sent when the control plane cannot be reached.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import grpc
import msgspec
from clickgate.v1 import ingest_pb2, ingest_pb2_grpc

from edge.rejected import RejectedLog, read_records
from edge.settings import EdgeSettings
from edge.shipper import auth_metadata


class ReplayResult(msgspec.Struct):
    replayed: int = 0  # records sent and answered
    inserted: int = 0
    duplicates: int = 0
    refused: dict[str, int] = {}  # by reason; back in the rejected log
    unsent: int = 0  # the control plane could not be reached; back in the rejected log
    error: str = ""


def replay(settings: EdgeSettings) -> ReplayResult:
    """Replay ``<data_dir>/journal/rejected.log`` in batches of ``ship_batch``."""
    log = RejectedLog(Path(settings.data_dir) / "journal", settings.rejected_max_bytes)
    path = log.take()
    result = ReplayResult()
    if path is None:
        return result
    records = read_records(path)
    refused: Counter[str] = Counter()
    put_back: list[bytes] = []
    with grpc.insecure_channel(settings.control_grpc) as channel:
        stub = ingest_pb2_grpc.IngestStub(channel)
        metadata = auth_metadata(settings.control_token)
        for start in range(0, len(records), settings.ship_batch):
            batch = records[start : start + settings.ship_batch]
            request = ingest_pb2.IngestClicksRequest(edge_id=settings.node_id, records=batch)
            try:
                reply = stub.IngestClicks(
                    request, timeout=settings.ship_deadline, metadata=metadata
                )
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                if code == grpc.StatusCode.INVALID_ARGUMENT:
                    refused["batch_refused"] += len(batch)
                    put_back += batch
                    result.replayed += len(batch)
                    continue
                result.error = f"control plane at {settings.control_grpc}: {code or exc}"
                result.unsent = len(records) - start
                put_back += records[start:]
                break
            result.replayed += len(batch)
            result.inserted += reply.inserted
            result.duplicates += reply.duplicates
            for r in reply.rejected:
                refused[r.reason] += 1
                put_back.append(batch[r.index])
    # Written back before the replayed file goes: a crash in between only repeats
    # records, which the control plane stores once.
    log.append(put_back, capped=False)
    path.unlink()
    result.refused = dict(refused)
    return result
