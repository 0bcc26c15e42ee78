"""The edge's metrics port: a plain answer to every request, even a malformed one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.metrics_server import serve_metrics
from tests.edgekit import make_state


async def exchange(tmp: Path, request: bytes) -> bytes:
    server = await serve_metrics(make_state(tmp), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer
    finally:
        server.close()
        await server.wait_closed()


def test_metrics_are_served(tmp_path: Path) -> None:
    answer = asyncio.run(exchange(tmp_path, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"clickgate_edge_clicks_journaled_total 0" in answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",  # beyond the stream's line limit
        b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
    ],
)
def test_an_oversized_request_gets_a_400_not_a_traceback(
    tmp_path: Path, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    answer = asyncio.run(exchange(tmp_path, request_bytes))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert "Traceback" not in caplog.text and "exception" not in caplog.text.lower()
