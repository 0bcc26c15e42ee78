"""Webhooks from the real control plane to loopback receivers: failing, hanging, gone and
healthy receivers on a compressed retry schedule, and a SIGKILL in the middle of dispatch."""

from __future__ import annotations

import signal
import time
from collections import defaultdict

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.cluster import Cluster, wait_until
from tests.webhookkit import Receiver, receiver, start_control

__all__ = ["receiver"]  # fixture

BASE_S = 0.4  # first retry; then x4 (control.webhooks.dispatcher.backoff_ms)
FAST = {
    "CLICKGATE_WEBHOOK_ALLOW_PRIVATE": "true",
    "CLICKGATE_WEBHOOK_TIMEOUT_SECONDS": "2",
    "CLICKGATE_WEBHOOK_RETRY_BASE_SECONDS": str(BASE_S),
    "CLICKGATE_WEBHOOK_POLL_SECONDS": "0.05",
}
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/142.0 Safari/537.36"


def start(cluster: Cluster) -> None:
    cluster.env.update(FAST)
    cluster.bootstrap()
    start_control(cluster)
    cluster.start_edge()


def hook(cluster: Cluster, url: str) -> tuple[int, str]:
    # A click seconds after the send counts as a scanner (too_fast): ask for bots too.
    created = cluster.api("POST", "/v1/webhooks", json={"url": url, "include_bots": True})
    assert created.status_code == 201, created.text
    return int(created.json()["id"]), str(created.json()["secret"])


def click(cluster: Cluster, tracked: str) -> float:
    """Click at the edge; returns the time.monotonic() of the 302."""
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    headers = {"Host": f"localhost:{cluster.edge_port}", "User-Agent": UA}
    assert httpx.get(cluster.edge_url + path, headers=headers).status_code == 302
    return time.monotonic()


# Timing-heavy and slow to start: SQLite only (the dispatcher's SQL is the same on both;
# the SIGKILL test below covers PostgreSQL's SKIP LOCKED claims).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_failing_hanging_gone_and_healthy_receivers(cluster: Cluster, receiver: Receiver) -> None:
    receiver.hang_s = 6.0  # beyond the 2 s timeout
    start(cluster)
    ids = {path: hook(cluster, receiver.url(path))[0] for path in ("/flaky", "/hang", "/gone")}
    hook(cluster, receiver.url("/ok"))
    tracked = cluster.mint("https://example.com/a", message_id="msg-mix")
    clicked = [click(cluster, tracked)]
    wait_until(lambda: receiver.at("/hang"), 10, "the hanging receiver's first request")
    for _ in range(4):  # while /hang holds both its slots
        clicked.append(click(cluster, tracked))
        time.sleep(0.1)
    wait_until(lambda: len(receiver.at("/ok")) == 5, 10, "five healthy deliveries")
    # Healthy latency: from the 302 to the receiver, with the hanging one stuck meanwhile.
    latencies = [r[3] - t for r, t in zip(receiver.at("/ok"), clicked, strict=True)]
    print(f"healthy latencies with a hanging receiver: {[round(x, 3) for x in latencies]}")
    assert max(latencies[1:]) < 1.5, latencies  # a blocked one waits out the 2 s timeout

    # 410: disabled at once, visible through the API; its other events are not sent.
    gone = cluster.api("GET", f"/v1/webhooks/{ids['/gone']}").json()
    assert gone["enabled"] is False and "410" in gone["disabled_reason"], gone
    assert len(receiver.at("/gone")) <= 2  # at most the per-endpoint limit was in flight

    # Failing then recovering: each event 500, 500, then 204, on the schedule.
    wait_until(lambda: len(receiver.at("/flaky")) == 15, 15, "flaky retries")
    by_id: dict[str, list[float]] = defaultdict(list)
    for _, headers, _, t in receiver.at("/flaky"):
        by_id[headers["webhook-id"]].append(t)
    for times in by_id.values():
        first, second = times[1] - times[0], times[2] - times[1]
        assert 0.8 * BASE_S <= first <= 1.2 * BASE_S + 0.6, times
        assert 0.8 * 4 * BASE_S <= second <= 1.2 * 4 * BASE_S + 0.6, times
    flaky = cluster.api("GET", f"/v1/webhooks/{ids['/flaky']}/deliveries").json()["deliveries"]
    assert len(flaky) == 5
    for d in flaky:
        assert d["status"] == "delivered" and d["attempts"] == 3
        assert [a["status_code"] for a in d["attempt_log"]] == [500, 500, 204]

    # Hanging: never more than two requests at once; the attempts time out and retry.
    hang = receiver.at("/hang")
    assert all(sum(1 for o in hang if abs(o[3] - r[3]) < 1.0) <= 2 for r in hang)
    listed = cluster.api("GET", f"/v1/webhooks/{ids['/hang']}/deliveries").json()
    errors = [a["error"] for d in listed["deliveries"] for a in d["attempt_log"]]
    assert errors and all("timed out" in e for e in errors), errors


def test_sigkill_during_dispatch_delivers_every_event(cluster: Cluster, receiver: Receiver) -> None:
    start(cluster)
    hook_id, secret = hook(cluster, receiver.url("/gated"))
    tracked = cluster.mint("https://example.com/k", message_id="msg-kill")
    for _ in range(40):
        click(cluster, tracked)
    # The kill is to hit dispatch, not ingest (the durability tests cover that one).
    wait_until(lambda: len(cluster.clicks("msg-kill")) == 40, 30, "40 stored clicks")
    expected = {f"msg_{c['click_id']}_{hook_id}" for c in cluster.clicks("msg-kill")}
    # The receiver holds its answers: requests are in flight, none has succeeded.
    wait_until(lambda: len(receiver.at("/gated")) >= 2, 15, "requests in flight")
    cluster.stop("control", signal.SIGKILL)
    before = {r[1]["webhook-id"] for r in receiver.at("/gated")}
    arrived_before = len(receiver.at("/gated"))
    receiver.gate.set()  # the held answers go to a dead process
    start_control(cluster)
    restarted = time.monotonic()

    def resent() -> set[str]:
        return {r[1]["webhook-id"] for r in receiver.at("/gated")[arrived_before:]}

    wait_until(lambda: resent() >= expected, 60, "every event delivered after the restart")
    print(f"all delivered {time.monotonic() - restarted:.2f}s after the restart")
    # Those that reached the receiver before the kill came again: same webhook-id, body.
    assert before and before <= resent()
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for _, headers, body, _ in receiver.at("/gated"):
        payload = Webhook(secret).verify(body, headers)
        assert headers["webhook-id"] == f"msg_{payload['click_id']}_{hook_id}"
        bodies[headers["webhook-id"]].add(body)
    assert set(bodies) == expected and all(len(b) == 1 for b in bodies.values())
    print(f"requests {len(receiver.at('/gated'))} for {len(expected)} events")

    def all_delivered() -> bool:
        listed = cluster.api("GET", f"/v1/webhooks/{hook_id}/deliveries").json()
        return [d["status"] for d in listed["deliveries"]] == ["delivered"] * 40

    wait_until(all_delivered, 10, "every delivery recorded as delivered")
