"""A tiny HTTP server on the metrics port: /metrics, /healthz, /readyz."""

from __future__ import annotations

import asyncio

from edge.metrics import read_agent_stats
from edge.state import EdgeState

MAX_HEADER_LINES = 100


async def serve_metrics(state: EdgeState, host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                path = await read_path(reader)
            except ValueError:  # a line over the stream's 64 KiB limit, or too many lines
                status, body, kind = b"400 Bad Request", b"bad request\n", TEXT
            else:
                status, body, kind = route(state, path)
            head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
                status,
                kind,
                len(body),
            )
            writer.write(head + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def read_path(reader: asyncio.StreamReader) -> bytes:
    """The request target of a request read up to its blank line; ValueError if oversized."""
    request_line = await asyncio.wait_for(reader.readline(), 5)
    for _ in range(MAX_HEADER_LINES):
        if (await asyncio.wait_for(reader.readline(), 5)) in (b"\r\n", b"\n", b""):
            return request_line.split(b" ")[1] if request_line.count(b" ") >= 2 else b""
    raise ValueError("too many header lines")


TEXT = b"text/plain; charset=utf-8"


def route(state: EdgeState, path: bytes) -> tuple[bytes, bytes, bytes]:
    if path == b"/metrics":
        body = state.metrics.render(read_agent_stats(state.data_dir)).encode()
        return b"200 OK", body, b"text/plain; version=0.0.4"
    if path == b"/healthz":
        return b"200 OK", b"ok\n", TEXT
    if path == b"/readyz":
        if state.ready:
            return b"200 OK", b"ok\n", TEXT
        return b"503 Service Unavailable", b"not ready\n", TEXT
    return b"404 Not Found", b"not found\n", TEXT
