"""Key rotation that breaks no link, and a kill switch that reaches every edge in seconds."""

from __future__ import annotations

import signal
import threading
import time

import grpc
import httpx
import pytest
from clickgate.v1 import config_pb2, config_pb2_grpc

from tests.cluster import Cluster, wait_until
from tests.load import ClickLoad


def path_of(cluster: Cluster, tracked: str) -> str:
    return tracked.split(f":{cluster.edge_port}", 1)[1]


def get(cluster: Cluster, base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, headers={"Host": f"localhost:{cluster.edge_port}"})


def key_states(cluster: Cluster) -> dict[int, tuple[str, bool]]:
    keys = cluster.api("GET", "/v1/keys").json()["keys"]
    return {k["key_id"]: (k["state"], k["pending"]) for k in keys}


class LaggingEdge:
    """An edge that connects to the config stream but never takes new keys."""

    def __init__(self, cluster: Cluster, held: list[int]) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{cluster.grpc_port}")
        stub = config_pb2_grpc.ConfigStub(self.channel)
        request = config_pb2.WatchConfigRequest(edge_id="laggard", revision=0, key_ids_held=held)
        self.call = stub.WatchConfig(
            request, metadata=(("authorization", "Bearer test-edge-token"),)
        )
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            for _ in self.call:
                pass
        except grpc.RpcError:
            pass

    def close(self) -> None:
        self.call.cancel()  # type: ignore[no-untyped-call]
        self.channel.close()


def test_rotation_waits_for_every_edge_and_old_links_keep_working(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    second = cluster.start_extra_edge("edge-b")
    (old_key,) = key_states(cluster)
    old_link = path_of(cluster, cluster.mint("https://example.com/old", message_id="rot"))
    laggard = LaggingEdge(cluster, held=[old_key])
    time.sleep(1)  # the laggard is registered as connected
    response = cluster.api("POST", "/v1/keys/rotate")
    assert response.status_code == 202, response.text
    new_key = response.json()["key_id"]
    time.sleep(3)  # both real edges hold the new key by now; the laggard never will
    assert key_states(cluster)[new_key] == ("verify-only", True)
    assert key_states(cluster)[old_key] == ("active", False)
    laggard.close()
    wait_until(lambda: key_states(cluster)[new_key] == ("active", False), 10, "activation")
    assert key_states(cluster)[old_key] == ("retired", False)
    new_link = path_of(cluster, cluster.mint("https://example.com/new", message_id="rot"))
    assert new_link != old_link
    for base in (cluster.edge_url, second):
        assert get(cluster, base, old_link).headers["location"] == "https://example.com/old"
        assert get(cluster, base, new_link).headers["location"] == "https://example.com/new"


def test_rotating_keys_under_load_fails_no_verification(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    paths = [path_of(cluster, cluster.mint(f"https://example.com/{n}")) for n in range(10)]
    host = f"localhost:{cluster.edge_port}"
    with ClickLoad(cluster.edge_url, host, paths) as load:
        for _ in range(3):
            key = cluster.api("POST", "/v1/keys/rotate").json()["key_id"]
            wait_until(lambda k=key: key_states(cluster)[k][0] == "active", 10, "activation")
            # Links minted under each new key join the load at once.
            paths.append(path_of(cluster, cluster.mint("https://example.com/fresh")))
        time.sleep(0.5)
    assert load.failed == 0, load.other_status
    assert len(load.redirected) > 200


def test_revocation_reaches_every_edge_within_5s_and_survives_restart(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    second = cluster.start_extra_edge("edge-b")
    bad = cluster.mint("https://phish.example/login", message_id="m-bad")
    good = path_of(cluster, cluster.mint("https://example.com/ok", message_id="m-good"))
    bad_path = path_of(cluster, bad)
    assert get(cluster, cluster.edge_url, bad_path).status_code == 302

    started = time.monotonic()
    response = cluster.api("POST", "/v1/revocations", json={"kind": "link", "value": bad})
    assert response.status_code == 201, response.text
    for base in (cluster.edge_url, second):
        wait_until(lambda b=base: get(cluster, b, bad_path).status_code == 410, 5, "410")
    took = time.monotonic() - started
    print(f"revocation reached both edges in {took:.2f}s")
    assert took < 5
    gone = get(cluster, second, bad_path)
    assert "location" not in gone.headers
    assert b"disabled" in gone.content
    assert get(cluster, second, good).status_code == 302  # nothing else is touched

    cluster.stop("control", signal.SIGKILL)
    cluster.stop("edge")
    cluster.start_edge()  # from the sealed snapshot, control plane still down
    assert get(cluster, cluster.edge_url, bad_path).status_code == 410
    assert get(cluster, cluster.edge_url, good).status_code == 302
    cluster.start_control()
    # The 302 click from before the revocation may have been stored before the SIGKILL:
    # wait for the 410 ones, which the edges ship once the control plane is back.
    statuses = wait_until(
        lambda: (s := {c["status"] for c in cluster.clicks("m-bad")}) >= {410} and s,
        20,
        "blocked clicks stored",
    )
    assert statuses >= {410}


def test_revoke_message_host_and_tenant(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    a = path_of(cluster, cluster.mint("https://a.example/x", message_id="m-a"))
    b = path_of(cluster, cluster.mint("https://b.example/y", message_id="m-b"))
    c = path_of(cluster, cluster.mint("https://c.example/z", message_id="m-c"))

    def status(p: str) -> int:
        return get(cluster, cluster.edge_url, p).status_code

    cluster.api("POST", "/v1/revocations", json={"kind": "message", "value": "m-a"})
    wait_until(lambda: status(a) == 410, 5, "message revoked")
    assert (status(b), status(c)) == (302, 302)
    v6 = path_of(cluster, cluster.mint("http://[0:0::1]:8080/x", message_id="m-v6"))
    under = path_of(cluster, cluster.mint("https://my_host.example/x", message_id="m-u"))
    cluster.api("POST", "/v1/revocations", json={"kind": "host", "value": "B.example"})
    wait_until(lambda: status(b) == 410, 5, "host revoked")
    assert (status(c), status(v6), status(under)) == (302, 302, 302)
    # Any host a link may go to can be revoked, in any spelling of it.
    for value in ("::1", "My_Host.example."):
        made = cluster.api("POST", "/v1/revocations", json={"kind": "host", "value": value})
        assert made.status_code == 201, made.text
    wait_until(lambda: (status(v6), status(under)) == (410, 410), 5, "hosts revoked")
    assert status(c) == 302
    made = cluster.api("POST", "/v1/revocations", json={"kind": "tenant"}).json()
    wait_until(lambda: status(c) == 410, 5, "tenant revoked")
    assert cluster.api("DELETE", f"/v1/revocations/{made['id']}").status_code == 204
    wait_until(lambda: status(c) == 302, 5, "tenant revocation lifted")
    listed = cluster.api("GET", "/v1/revocations").json()["revocations"]
    assert sorted(r["kind"] for r in listed) == ["host", "host", "host", "message"]
    assert {r["value"] for r in listed if r["kind"] == "host"} == {
        "b.example",
        "[::1]",
        "my_host.example",
    }
    bad = cluster.api("POST", "/v1/revocations", json={"kind": "link", "value": "https://x/y"})
    assert bad.status_code == 400


def test_revoked_key_is_refused(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    (key,) = key_states(cluster)
    link = path_of(cluster, cluster.mint("https://example.com/k"))
    assert cluster.api("POST", f"/v1/keys/{key}/revoke").json()["state"] == "revoked"
    wait_until(lambda: get(cluster, cluster.edge_url, link).status_code == 404, 5, "refused")
    assert cluster.api("POST", "/v1/links", json={"url": "https://e.example/"}).status_code == 409


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # watches the edge
def test_after_a_long_outage_a_revocation_reaches_the_edge_within_seconds(
    cluster: Cluster,
) -> None:
    """A control plane away for 30 s (a slow rolling update): gRPC's own reconnect
    backoff had grown past 10 s by then, so the edge reconnected, and took revocations,
    that much later. It now retries at most CLICKGATE_EDGE_SHIP_MAX_BACKOFF apart (1 s in
    these tests)."""
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    bad_path = path_of(cluster, cluster.mint("https://phish.example/", message_id="m-late"))
    assert get(cluster, cluster.edge_url, bad_path).status_code == 302
    cluster.stop("control")
    time.sleep(30)
    cluster.start_control()
    started = time.monotonic()
    bad = f"http://localhost:{cluster.edge_port}{bad_path}"
    response = cluster.api("POST", "/v1/revocations", json={"kind": "link", "value": bad})
    assert response.status_code == 201, response.text
    wait_until(lambda: get(cluster, cluster.edge_url, bad_path).status_code == 410, 20, "410")
    took = time.monotonic() - started
    print(f"revocation reached the edge {took:.2f}s after the control plane was back")
    assert took < 4
