"""gRPC services for edges: IngestClicks (store batches) and WatchConfig (config stream)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from clickgate.v1 import config_pb2, config_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer  # public as health.aio, untyped there
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from control.db.models import ConfigRevision, Domain, SigningKey
from control.ingest import IngestResult, KeyCache, ingest
from control.metrics import ControlMetrics

log = logging.getLogger("clickgate.control.rpc")

MAX_BATCH = 10000
CONFIG_POLL_SECONDS = 0.25


def _authorized(context: grpc.aio.ServicerContext[Any, Any], token: str) -> bool:
    if not token:
        return True
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            return hmac.compare_digest(value, f"Bearer {token}")
    return False


class IngestService(ingest_pb2_grpc.IngestServicer):
    def __init__(
        self, engine: Engine, sessions: sessionmaker[Session], token: str, metrics: ControlMetrics
    ) -> None:
        self.engine, self.sessions, self.token, self.metrics = engine, sessions, token, metrics
        self.keys = KeyCache()
        # SQLite has one writer; serialising here beats piling up on its busy timeout.
        self.write_lock = asyncio.Lock()

    async def IngestClicks(
        self, request: ingest_pb2.IngestClicksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingest_pb2.IngestClicksReply:
        if not _authorized(context, self.token):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad edge token")
        if len(request.records) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"more than {MAX_BATCH} records")
        started = time.perf_counter()
        try:
            async with self.write_lock:
                result = await asyncio.to_thread(
                    self._store, request.edge_id, list(request.records)
                )
        except SQLAlchemyError as exc:
            self.metrics.db_errors += 1
            log.error("ingest failed: %s", exc.__class__.__name__)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable")
        self.metrics.observe_batch(result, time.perf_counter() - started)
        return ingest_pb2.IngestClicksReply(
            inserted=result.inserted,
            duplicates=result.duplicates,
            rejected=[ingest_pb2.RejectedClick(index=i, reason=r) for i, r in result.rejected],
        )

    def _store(self, edge_id: str, records: list[bytes]) -> IngestResult:
        with self.sessions.begin() as session:
            return ingest(session, edge_id, records, self.keys)


class ConfigService(config_pb2_grpc.ConfigServicer):
    def __init__(self, sessions: sessionmaker[Session], token: str) -> None:
        self.sessions, self.token = sessions, token
        self.held: dict[str, set[int]] = {}  # edge id -> key ids it reported holding

    async def WatchConfig(
        self, request: config_pb2.WatchConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[config_pb2.ConfigSnapshot]:
        if not _authorized(context, self.token):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad edge token")
        self.held[request.edge_id] = set(request.key_ids_held)
        sent = request.revision
        while True:
            revision = await asyncio.to_thread(self._revision)
            if revision != sent:
                snap = await asyncio.to_thread(self._snapshot)
                yield snap
                sent = snap.revision
                self.held[request.edge_id] = {k.key_id for k in snap.keys}
            await asyncio.sleep(CONFIG_POLL_SECONDS)

    def _revision(self) -> int:
        with self.sessions() as session:
            return (
                session.scalar(select(ConfigRevision.revision).where(ConfigRevision.id == 1)) or 0
            )

    def _snapshot(self) -> config_pb2.ConfigSnapshot:
        with self.sessions() as session:
            revision = session.scalar(select(ConfigRevision.revision).where(ConfigRevision.id == 1))
            keys = session.scalars(select(SigningKey).order_by(SigningKey.id)).all()
            domains = session.scalars(select(Domain).order_by(Domain.id)).all()
            return config_pb2.ConfigSnapshot(
                revision=revision or 0,
                generated_at_ms=int(time.time() * 1000),
                keys=[
                    config_pb2.SigningKey(
                        key_id=k.id, tenant_id=k.tenant_id, secret=k.secret, state=k.state
                    )
                    for k in keys
                ],
                domains=[
                    config_pb2.ClickDomain(name=d.name, tenant_id=d.tenant_id) for d in domains
                ],
            )


async def start_grpc(
    engine: Engine,
    sessions: sessionmaker[Session],
    host: str,
    port: int,
    token: str,
    metrics: ControlMetrics,
) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    ingest_pb2_grpc.add_IngestServicer_to_server(
        IngestService(engine, sessions, token, metrics), server
    )
    config_pb2_grpc.add_ConfigServicer_to_server(ConfigService(sessions, token), server)
    # Standard gRPC health checking, for Kubernetes grpc probes and load balancers.
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", "clickgate.v1.Ingest", "clickgate.v1.Config"):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {host}:{port}")
    await server.start()
    return server, bound
