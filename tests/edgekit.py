"""Helpers to call the edge's ASGI app directly, without a server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from edge.app import ASGIApp, build_app
from edge.config import EdgeConfig
from edge.journal import JournalReader, ShipStats
from edge.settings import EdgeSettings
from edge.state import EdgeState

KEY = bytes(range(32))
KEY_ID = 5
TENANT = 11
OTHER_TENANT = 12
OTHER_KEY = bytes(range(2, 34))
OTHER_KEY_ID = 6


def make_state(tmp: Path, **overrides: Any) -> EdgeState:
    settings = EdgeSettings(data_dir=str(tmp), **overrides)
    state = EdgeState(settings)
    state.set_config(
        EdgeConfig(
            revision=1,
            keys={KEY_ID: KEY, OTHER_KEY_ID: OTHER_KEY},
            key_tenants={KEY_ID: TENANT, OTHER_KEY_ID: OTHER_TENANT},
            domains={b"click.example": TENANT, b"other.example": OTHER_TENANT},
        )
    )
    state.open_journal()
    return state


class Response:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = messages[0]
        self.status: int = start["status"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.body = b"".join(m.get("body", b"") for m in messages[1:])


def call(
    app: ASGIApp,
    path: str,
    method: str = "GET",
    host: str = "click.example",
    headers: list[tuple[bytes, bytes]] | None = None,
    client: tuple[str, int] = ("203.0.113.9", 5555),
) -> Response:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"host", host.encode()), *(headers or [])],
        "client": client,
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    return Response(sent)


def app_for(state: EdgeState) -> ASGIApp:
    return build_app(state)


def reader_for(state: EdgeState) -> JournalReader:
    """What the agent would read from this worker's slot."""
    assert state.slot is not None
    return JournalReader(state.slot, ShipStats())
