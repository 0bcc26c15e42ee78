"""gRPC services for edges: IngestClicks (store batches) and WatchConfig (config stream)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
import psycopg
from clickgate.v1 import config_pb2, config_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer  # public as health.aio, untyped there
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from control.clock import now_ms
from control.db.models import ConfigRevision, EdgeStatus, Revocation, SigningKey
from control.domains import snapshot_certificates, snapshot_challenges, snapshot_domains
from control.ingest import Ingestor, IngestResult
from control.keys import key_secret, promote_ready
from control.metrics import ControlMetrics
from edge.sealing import Sealer

log = logging.getLogger("clickgate.control.rpc")

MAX_BATCH = 10000
CONFIG_POLL_SECONDS = 0.25
TOUCH_SECONDS = 5.0
PROMOTE_SECONDS = 0.5
# Below the edge's ship deadline (10 s): a batch that waits this long on a PostgreSQL
# lock (a migration, an operator's LOCK TABLE) fails as UNAVAILABLE and the edge tries
# again later, instead of its retries queuing up behind the lock.
INGEST_LOCK_TIMEOUT = "8s"
# What the database drivers raise under SQLAlchemy's own errors: store.py's raw cursors.
DB_ERRORS = (SQLAlchemyError, sqlite3.Error, psycopg.Error)

T = TypeVar("T")


def _authorized(context: grpc.aio.ServicerContext[Any, Any], token: str) -> bool:
    if not token:
        return True
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            return hmac.compare_digest(value, f"Bearer {token}")
    return False


class IngestService(ingest_pb2_grpc.IngestServicer):
    def __init__(
        self,
        sessions: sessionmaker[Session],
        token: str,
        metrics: ControlMetrics,
        ingestor: Ingestor,
    ) -> None:
        self.sessions, self.token, self.metrics = sessions, token, metrics
        self.ingestor = ingestor
        # SQLite has one writer; serialising here beats piling up on its busy timeout.
        self.write_lock = asyncio.Lock()
        # And the lock the transaction itself holds. A call whose edge gave up waiting is
        # cancelled while its thread goes on, which releases write_lock: the edge's retry
        # of the same batch then ran beside it, and on SQLite its duplicate check missed
        # the rows the first one was committing (UNIQUE constraint failed, an unexpected
        # error in the servicer).
        self._store_lock = threading.Lock()
        # Its own thread: a transaction stuck on a lock must not park the loop's default
        # executor, which the API's handlers and its authentication run in. A retry that
        # its edge gave up on while it still queued here is dropped unrun.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="ingest")

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
                result = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self._store, request.edge_id, list(request.records)
                )
        except DB_ERRORS as exc:
            self.metrics.db_errors += 1
            log.error("ingest failed: %s", _name(exc))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable")
        self.metrics.observe_batch(result, time.perf_counter() - started)
        return ingest_pb2.IngestClicksReply(
            inserted=result.inserted,
            duplicates=result.duplicates,
            rejected=[ingest_pb2.RejectedClick(index=i, reason=r) for i, r in result.rejected],
        )

    def _store(self, edge_id: str, records: list[bytes]) -> IngestResult:
        with self._store_lock, self.sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL lock_timeout = '{INGEST_LOCK_TIMEOUT}'"))
            return self.ingestor.ingest(session, edge_id, records)

    def close(self) -> None:
        """Drop queued batches (their edges keep them and send them again); a transaction
        already running ends by itself within INGEST_LOCK_TIMEOUT or commits."""
        self.executor.shutdown(wait=False, cancel_futures=True)


class ConfigService(config_pb2_grpc.ConfigServicer):
    def __init__(self, sessions: sessionmaker[Session], token: str, sealer: Sealer) -> None:
        self.sessions, self.token, self.sealer = sessions, token, sealer

    async def WatchConfig(
        self, request: config_pb2.WatchConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[config_pb2.ConfigSnapshot]:
        if not _authorized(context, self.token):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad edge token")
        edge_id = request.edge_id or context.peer()
        held = list(request.key_ids_held)
        await _db(context, self._seen, edge_id, request.revision, held, True)
        sent, last_touch = request.revision, time.monotonic()
        try:
            while True:
                revision = await _db(context, self._revision)
                if revision != sent:
                    snap = await _db(context, self._snapshot)
                    yield snap
                    sent = snap.revision
                if time.monotonic() - last_touch > TOUCH_SECONDS:
                    await _db(context, self._seen, edge_id, None, None, True)
                    last_touch = time.monotonic()
                await asyncio.sleep(CONFIG_POLL_SECONDS)
        finally:
            try:
                await asyncio.to_thread(self._seen, edge_id, None, None, False)
            except DB_ERRORS as exc:  # the edge shows as connected until the database is back
                log.warning("cannot mark edge %s disconnected: %s", edge_id, _name(exc))

    async def AckConfig(
        self, request: config_pb2.AckConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> config_pb2.AckConfigReply:
        if not _authorized(context, self.token):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad edge token")
        held = list(request.key_ids_held)
        await _db(context, self._seen, request.edge_id, request.revision, held, True)
        return config_pb2.AckConfigReply()

    def _seen(self, edge_id: str, revision: int | None, held: list[int] | None, up: bool) -> None:
        with self.sessions.begin() as session:
            row = session.get(EdgeStatus, edge_id)
            if row is None:
                row = EdgeStatus(edge_id=edge_id, revision=0, key_ids_held=[], last_seen_ms=0)
                session.add(row)
            row.connected, row.last_seen_ms = up, now_ms()
            if revision is not None:
                row.revision = revision
            if held is not None:
                row.key_ids_held = sorted(held)

    def _revision(self) -> int:
        with self.sessions() as session:
            query = select(ConfigRevision.revision).where(ConfigRevision.id == 1)
            return session.scalar(query) or 0

    def _snapshot(self) -> config_pb2.ConfigSnapshot:
        with self.sessions() as session:
            revision = session.scalar(select(ConfigRevision.revision).where(ConfigRevision.id == 1))
            keys = session.scalars(select(SigningKey).order_by(SigningKey.id)).all()
            revocations = session.scalars(select(Revocation).order_by(Revocation.id)).all()
            return config_pb2.ConfigSnapshot(
                revision=revision or 0,
                generated_at_ms=now_ms(),
                keys=[
                    config_pb2.SigningKey(
                        key_id=k.id,
                        tenant_id=k.tenant_id,
                        secret=key_secret(self.sealer, k),
                        state=k.state,
                    )
                    for k in keys
                ],
                domains=snapshot_domains(session),
                challenges=snapshot_challenges(session),
                certificates=snapshot_certificates(session, self.sealer),
                revocations=[
                    config_pb2.Revocation(kind=r.kind, tenant_id=r.tenant_id, value=r.value)
                    for r in revocations
                ],
            )


async def _db(context: grpc.aio.ServicerContext[Any, Any], call: Callable[..., T], *args: Any) -> T:
    """Run a config query in a thread; a database that is down is UNAVAILABLE to the edge
    (it reconnects with backoff and serves from the config it has), not UNKNOWN with a
    traceback in this log for every edge, every retry."""
    try:
        return await asyncio.to_thread(call, *args)
    except DB_ERRORS as exc:
        log.warning("config stream: database unavailable: %s", _name(exc))
        await context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable")
        raise  # abort raises; this line only tells mypy so


def _name(exc: BaseException) -> str:
    return exc.__class__.__name__


async def promote_keys_forever(sessions: sessionmaker[Session]) -> None:
    """Background job: activate rotated keys once every connected edge holds them."""
    while True:
        try:
            promoted = await asyncio.to_thread(_promote_once, sessions)
            if promoted:
                log.info("signing keys now active: %s", promoted)
        except SQLAlchemyError as exc:
            log.error("key promotion failed: %s", exc.__class__.__name__)
        except Exception:  # anything else must not end key promotion for good
            log.exception("key promotion failed")
        await asyncio.sleep(PROMOTE_SECONDS)


def _promote_once(sessions: sessionmaker[Session]) -> list[int]:
    with sessions.begin() as session:
        return promote_ready(session)


# Edges ping every 20 s (edge.agent.KEEPALIVE_MS) so that a dead control plane is
# noticed on an idle config stream. gRPC servers by default answer a client that pings
# more often than every 5 minutes without data with GOAWAY "too_many_pings", which cut
# every edge's config stream a few minutes after it opened, over and over.
MIN_PING_INTERVAL_MS = 10_000


def server_options(min_ping_ms: int = MIN_PING_INTERVAL_MS) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.http2.min_ping_interval_without_data_ms", min_ping_ms),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


async def start_grpc(
    sessions: sessionmaker[Session],
    host: str,
    port: int,
    token: str,
    metrics: ControlMetrics,
    ingestor: Ingestor,
) -> tuple[grpc.aio.Server, int, IngestService]:
    """The gRPC server, its port, and its ingest service (close() it after stopping)."""
    server = grpc.aio.server(options=server_options())
    ingest = IngestService(sessions, token, metrics, ingestor)
    ingest_pb2_grpc.add_IngestServicer_to_server(ingest, server)
    config_servicer = ConfigService(sessions, token, ingestor.sealer)
    config_pb2_grpc.add_ConfigServicer_to_server(config_servicer, server)
    # Standard gRPC health checking, for Kubernetes grpc probes and load balancers.
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", "clickgate.v1.Ingest", "clickgate.v1.Config"):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {host}:{port}")
    await server.start()
    return server, bound, ingest
