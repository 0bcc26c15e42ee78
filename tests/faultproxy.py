"""A gRPC proxy between edge and control plane that loses acknowledgements on purpose."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator
from typing import Any

import grpc
from clickgate.v1 import config_pb2, config_pb2_grpc, ingest_pb2, ingest_pb2_grpc


class LosingIngest(ingest_pb2_grpc.IngestServicer):
    """Forwards each batch; after the control plane committed it, drops a share of replies."""

    def __init__(self, upstream: grpc.aio.Channel, drop_share: float) -> None:
        self.stub = ingest_pb2_grpc.IngestStub(upstream)
        self.drop_share = drop_share
        self.committed = 0
        self.dropped_acks = 0

    async def IngestClicks(
        self, request: ingest_pb2.IngestClicksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingest_pb2.IngestClicksReply:
        metadata = tuple(
            (k, v) for k, v in context.invocation_metadata() or () if isinstance(v, str)
        )
        reply: ingest_pb2.IngestClicksReply = await self.stub.IngestClicks(
            request, metadata=metadata, timeout=10
        )
        self.committed += 1
        if random.random() < self.drop_share:
            self.dropped_acks += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "ack lost on the way back")
        return reply


class PassConfig(config_pb2_grpc.ConfigServicer):
    def __init__(self, upstream: grpc.aio.Channel) -> None:
        self.stub = config_pb2_grpc.ConfigStub(upstream)

    async def WatchConfig(
        self, request: config_pb2.WatchConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[config_pb2.ConfigSnapshot]:
        metadata = tuple(
            (k, v) for k, v in context.invocation_metadata() or () if isinstance(v, str)
        )
        async for snap in self.stub.WatchConfig(request, metadata=metadata):
            yield snap

    async def AckConfig(
        self, request: config_pb2.AckConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> config_pb2.AckConfigReply:
        metadata = tuple(
            (k, v) for k, v in context.invocation_metadata() or () if isinstance(v, str)
        )
        reply: config_pb2.AckConfigReply = await self.stub.AckConfig(request, metadata=metadata)
        return reply


class FaultProxy:
    """Runs in its own thread and event loop; listens on a free loopback port."""

    def __init__(self, upstream: str, drop_share: float) -> None:
        self.upstream, self.drop_share = upstream, drop_share
        self.port = 0
        self.ingest: LosingIngest | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        assert self._ready.wait(10), "fault proxy did not start"
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        channel = grpc.aio.insecure_channel(self.upstream)
        server = grpc.aio.server()
        self.ingest = LosingIngest(channel, self.drop_share)
        ingest_pb2_grpc.add_IngestServicer_to_server(self.ingest, server)
        config_pb2_grpc.add_ConfigServicer_to_server(PassConfig(channel), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._ready.set()
        await self._stop.wait()
        await server.stop(None)
        await channel.close(None)
