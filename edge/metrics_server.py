"""A tiny HTTP server on the metrics port: /metrics, /healthz, /readyz."""

from __future__ import annotations

import asyncio

from edge.metrics import read_agent_stats
from edge.state import EdgeState


async def serve_metrics(state: EdgeState, host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = request_line.split(b" ")[1] if request_line.count(b" ") >= 2 else b""
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


def route(state: EdgeState, path: bytes) -> tuple[bytes, bytes, bytes]:
    text = b"text/plain; charset=utf-8"
    if path == b"/metrics":
        body = state.metrics.render(read_agent_stats(state.data_dir)).encode()
        return b"200 OK", body, b"text/plain; version=0.0.4"
    if path == b"/healthz":
        return b"200 OK", b"ok\n", text
    if path == b"/readyz":
        if state.ready:
            return b"200 OK", b"ok\n", text
        return b"503 Service Unavailable", b"not ready\n", text
    return b"404 Not Found", b"not found\n", text
