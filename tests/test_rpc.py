"""The edges' gRPC services when the database is down or stuck."""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import psycopg
import pytest
from clickgate.v1 import config_pb2, config_pb2_grpc, ingest_pb2

from control import rpc
from control.api.app import make_context
from control.api.context import AppContext
from control.db.migrate import upgrade
from control.ingest import Ingestor
from control.keys import active_key, key_secret
from control.metrics import ControlMetrics
from control.settings import ControlSettings
from edge import token
from tests.cluster import MASTER_KEY
from tests.test_ingest import journaled
from tests.webhookkit import tenant


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code)
        self.code = code


class Context:
    """What the services use of grpc.aio.ServicerContext (no edge token configured)."""

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code)


def test_the_config_stream_is_unavailable_not_unknown_while_the_database_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Edges reconnect on UNAVAILABLE; UNKNOWN came with a traceback per edge per retry."""
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, never listening
    url = f"postgresql://postgres@127.0.0.1:{refused.getsockname()[1]}/test"
    ctx = make_context(ControlSettings(database_url=url, master_key=MASTER_KEY))

    async def calls() -> list[grpc.StatusCode]:
        ingestor = Ingestor(ctx.sealer, ctx.enricher)
        server, port, ingest = await rpc.start_grpc(
            ctx.sessions, "127.0.0.1", 0, "", ControlMetrics(), ingestor
        )
        codes = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = config_pb2_grpc.ConfigStub(channel)
                for call in (
                    lambda: stub.AckConfig(config_pb2.AckConfigRequest(edge_id="e1"), timeout=10),
                    lambda: anext(aiter(stub.WatchConfig(config_pb2.WatchConfigRequest()))),
                ):
                    try:
                        await call()
                    except grpc.aio.AioRpcError as exc:
                        codes.append(exc.code())
        finally:
            await server.stop(grace=1)
            ingest.close()
        return codes

    try:
        codes = asyncio.run(calls())
    finally:
        refused.close()
        ctx.engine.dispose()
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 2
    assert "Traceback" not in caplog.text


@pytest.fixture
def pg_ctx(pg_url: str) -> Any:
    context = make_context(ControlSettings(database_url=pg_url, master_key=MASTER_KEY))
    upgrade(context.engine)
    yield context
    context.engine.dispose()


def test_ingest_stuck_on_a_table_lock_gives_up_and_leaves_the_shared_threads_free(
    pg_ctx: AppContext, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's LOCK TABLE (or a migration) used to hold ingest's transaction, and
    with it a thread of the pool the API's handlers run in, for as long as the lock: the
    edge's retries took the rest, and the API hung until the lock went."""
    monkeypatch.setattr(rpc, "INGEST_LOCK_TIMEOUT", "300ms")
    service = rpc.IngestService(
        pg_ctx.sessions, "", ControlMetrics(), Ingestor(pg_ctx.sealer, pg_ctx.enricher)
    )
    tenant_id, _ = tenant(pg_ctx)
    with pg_ctx.sessions() as session:
        key = active_key(session, tenant_id)
        secret = key_secret(pg_ctx.sealer, key)
    opened = token.open_token(token.mint(key.id, secret, "https://shop.example/"), {key.id: secret})
    assert opened is not None
    record = journaled(1, opened.netloc, opened.raw)
    request = ingest_pb2.IngestClicksRequest(edge_id="e1", records=[record])
    context: Any = Context()

    async def while_locked() -> tuple[grpc.StatusCode | None, float, bool]:
        # The API's pool, down to one thread, so that one stuck ingest would fill it.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        started, code = time.monotonic(), None
        ingest = asyncio.create_task(service.IngestClicks(request, context))
        await asyncio.sleep(0.1)
        api_thread_free = await asyncio.wait_for(asyncio.to_thread(lambda: True), 5)
        try:
            await asyncio.wait_for(ingest, 10)
        except Aborted as exc:
            code = exc.code
        return code, time.monotonic() - started, api_thread_free

    locker = psycopg.connect(pg_url)
    # The server ends the lock by itself after 8 s, so that a regression fails, not hangs.
    locker.execute("SET idle_in_transaction_session_timeout = '8s'")
    locker.execute("LOCK TABLE clicks IN ACCESS EXCLUSIVE MODE")
    try:
        code, took, api_thread_free = asyncio.run(while_locked())
    finally:
        locker.close()
        service.close()
    assert api_thread_free
    assert code == grpc.StatusCode.UNAVAILABLE and took < 5
    reply = asyncio.run(service_after_lock(pg_ctx, request))
    assert reply.inserted == 1, "the batch is stored once the lock is gone"


async def service_after_lock(
    ctx: AppContext, request: ingest_pb2.IngestClicksRequest
) -> ingest_pb2.IngestClicksReply:
    service = rpc.IngestService(
        ctx.sessions, "", ControlMetrics(), Ingestor(ctx.sealer, ctx.enricher)
    )
    try:
        return await service.IngestClicks(request, Context())  # type: ignore[arg-type]
    finally:
        service.close()
