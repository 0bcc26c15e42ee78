"""End to end: a rewritten link clicked at the real edge reaches the webhook receivers of
its stream, signed, once, with every payload field."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from standardwebhooks.webhooks import Webhook

from tests.cluster import Cluster, wait_until
from tests.webhookkit import start_control

Received = list[tuple[str, dict[str, str], bytes]]  # path, headers, body


@pytest.fixture
def received() -> Iterator[tuple[Received, int]]:
    got: Received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
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
    start_control(cluster)
    cluster.start_edge()
    for stream in ("promo", "other"):
        assert cluster.api("POST", "/v1/streams", json={"name": stream}).status_code == 201
    # A click seconds after the send counts as a scanner (too_fast): ask for bots too.
    hooks = {}
    for name, scope in (("all", None), ("promo", "promo"), ("other", "other")):
        spec = {"url": f"http://127.0.0.1:{port}/{name}", "include_bots": True, "stream": scope}
        hook = cluster.api("POST", "/v1/webhooks", json=spec)
        assert hook.status_code == 201, hook.text
        hooks[name] = hook.json()
    destination = "https://example.com/welcome"
    html = f'<p><a href="x">x</a> <a href="{destination}" data-clickgate-tags="cta:hero">Go</a>'
    rewrite = {"message_id": "msg-wh", "recipient": "jane@example.com", "tags": ["welcome"]}
    rewritten = cluster.api(
        "POST", "/v1/messages/rewrite", json={**rewrite, "stream": "promo", "html": html}
    )
    assert rewritten.status_code == 200, rewritten.text
    tracked = rewritten.json()["links"][1]["tracked_url"]
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
    headers = {"Host": f"localhost:{cluster.edge_port}", "User-Agent": ua}
    assert httpx.get(cluster.edge_url + path, headers=headers).status_code == 302

    wait_until(lambda: len(got) >= 2, 20, "the webhooks")
    time.sleep(1.5)  # a second poll of the dispatcher must not send anything again
    assert sorted(p for p, _, _ in got) == ["/all", "/promo"], cluster.logs()  # not /other
    for sent_path, sent_headers, body in got:
        hook = hooks[sent_path.strip("/")]
        payload = Webhook(hook["secret"]).verify(body, sent_headers)
        assert sent_headers["webhook-id"] == f"msg_{payload['click_id']}_{hook['id']}"
    payload = msgspec.json.decode(got[0][2])
    assert payload["type"] == "click" and payload["message_id"] == "msg-wh"
    assert payload["stream"] == "promo"
    assert payload["link"] == {"url": destination, "index": 1, "location": "html"}
    assert payload["tags"] == ["welcome", "cta:hero"]  # the message's, then the link's
    assert payload["domain"] == "localhost"
    assert payload["recipient"].startswith("h:") and "jane" not in payload["recipient"]
    assert payload["client"]["browser"] == "Safari" and payload["client"]["os"] == "Mac OS X"
    assert set(payload["geo"]) == {"country", "region", "city"}
    assert payload["is_bot"] is True and "too_fast" in payload["bot_reasons"]
    assert isinstance(payload["time"], int) and len(payload["click_id"]) == 32
    listed = cluster.api("GET", f"/v1/webhooks/{hooks['all']['id']}/deliveries").json()
    assert [d["status"] for d in listed["deliveries"]] == ["delivered"]
