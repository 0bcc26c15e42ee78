"""End to end: a click through the real edge reaches a webhook receiver, signed, once."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.cluster import Cluster, wait_until

Received = list[tuple[dict[str, str], bytes]]


@pytest.fixture
def received() -> Iterator[tuple[Received, int]]:
    got: Received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield got, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_click_webhook_end_to_end(cluster: Cluster, received: tuple[Received, int]) -> None:
    got, port = received
    cluster.env["CLICKGATE_WEBHOOK_ALLOW_PRIVATE"] = "true"
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    # A click seconds after the send counts as a scanner (too_fast): ask for bots too.
    spec = {"url": f"http://127.0.0.1:{port}/hook", "include_bots": True}
    hook = cluster.api("POST", "/v1/webhooks", json=spec)
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    destination = "https://example.com/welcome"
    tracked = cluster.mint(destination, message_id="msg-wh", tags=["welcome"])
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
    headers = {"Host": f"localhost:{cluster.edge_port}", "User-Agent": ua}
    assert httpx.get(cluster.edge_url + path, headers=headers).status_code == 302

    wait_until(lambda: got, 20, "the webhook")
    time.sleep(1.5)  # a second poll of the dispatcher must not send it again
    assert len(got) == 1, cluster.logs()
    sent_headers, body = got[0]
    payload = Webhook(secret).verify(body, sent_headers)
    assert payload["type"] == "click" and payload["message_id"] == "msg-wh"
    assert payload["link"]["url"] == destination and payload["tags"] == ["welcome"]
    assert payload["is_bot"] is True and "too_fast" in payload["bot_reasons"]
    assert sent_headers["webhook-id"] == f"msg_{payload['click_id']}_{hook.json()['id']}"
    listed = cluster.api("GET", f"/v1/webhooks/{hook.json()['id']}/deliveries").json()
    assert [d["status"] for d in listed["deliveries"]] == ["delivered"]
