"""Edges' keepalive pings never get their config stream cut by the control plane."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from control.rpc import MIN_PING_INTERVAL_MS, server_options
from edge.agent import KEEPALIVE_MS

PING_MS = 1000  # the test's client pings this often; the real agent, every KEEPALIVE_MS


def stream_survives(options: list[tuple[str, int]], seconds: float) -> bool:
    """Hold a server stream open (as the agent's config watch) while the client pings;
    True when it is still open after `seconds`, False when the server cut it."""
    server = grpc.server(ThreadPoolExecutor(4), options=options)
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # Unlimited pings without data: the agent's streams carry data now and then, which
    # lets its pings go on; here nothing else would.
    client_options = [("grpc.keepalive_time_ms", PING_MS), ("grpc.http2.max_pings_without_data", 0)]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=client_options)
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    cut = threading.Event()

    def read() -> None:
        try:
            for _ in watch:
                pass
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                cut.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    cut.wait(seconds)
    survived = not cut.is_set()
    watch.cancel()
    reader.join(5)
    channel.close()
    server.stop(None)
    return survived


def test_the_control_plane_allows_the_agents_pings() -> None:
    assert MIN_PING_INTERVAL_MS <= KEEPALIVE_MS
    # Scaled down: a client pinging every second, a server allowing half of that.
    allowed = server_options(min_ping_ms=PING_MS // 2)
    assert stream_survives(allowed, 6)
    # gRPC's default (5 minutes) cuts it: what every edge's config stream went through.
    default = [option for option in allowed if "ping" not in option[0]]
    started = time.monotonic()
    assert not stream_survives(default, 30)
    assert time.monotonic() - started < 30
