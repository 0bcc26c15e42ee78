"""End to end: mint through the API, click through the edge, see the click in the API."""

from __future__ import annotations

import socket

import httpx

from tests.cluster import Cluster, wait_until


def test_link_clicked_end_to_end(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    destination = "https://example.com/landing?utm_source=mail&x=%2F#section"
    tracked = cluster.mint(destination, message_id="msg-42", tags=["welcome"])
    assert tracked.startswith(f"http://localhost:{cluster.edge_port}/example.com/")

    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
    response = httpx.get(
        cluster.edge_url + path,
        headers={"Host": f"localhost:{cluster.edge_port}", "User-Agent": ua},
    )
    assert response.status_code == 302
    assert response.headers["location"] == destination

    clicks = wait_until(lambda: cluster.clicks("msg-42"), 10, "the click in the API")
    assert len(clicks) == 1
    click = clicks[0]
    assert click["url"] == destination
    assert click["location"] == "html"
    assert click["user_agent"] == ua
    assert click["ip"] == "127.0.0.0"  # truncated to /24 before it is stored
    assert click["tags"] == ["welcome"]
    assert len(click["click_id"]) == 32
    # Through the real server (Granian) too, a target that is not UTF-8 is a 400.
    for target in ("/v1/messages/msg%FF/clicks", "/v1/clicks?message_id=msg%FF"):
        refused = cluster.api("GET", target)
        assert refused.status_code == 400 and "not UTF-8" in refused.text, target
    # Raw UTF-8 in the query (as curl sends it) reaches the handler as UTF-8, not Latin-1.
    auth = f"Authorization: Bearer {cluster.api_key}\r\n".encode()
    raw = "GET /v1/stats/overview?tz=Ōsaka HTTP/1.1\r\n".encode() + auth
    answer = _raw_response(cluster.api_port, raw + b"Host: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and "Ōsaka".encode() in answer, answer


def test_foreign_and_unknown_requests_never_redirect(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    tracked = cluster.mint("https://example.com/", message_id="m-foreign")
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    for host, p in [("evil.example", path), ("localhost", "/x"), ("localhost", path[:-2] + "AA")]:
        response = httpx.get(cluster.edge_url + p, headers={"Host": host})
        assert response.status_code == 404, (host, p)
    assert httpx.post(cluster.edge_url + path, headers={"Host": "localhost"}).status_code == 405
    # Through the real server (Granian), raw: no Host, two Hosts, a bad one: 400s.
    for host_lines in [b"", b"Host: localhost\r\nHost: localhost\r\n", b"Host: local host\r\n"]:
        request = b"GET " + path.encode() + b" HTTP/1.1\r\n" + host_lines + b"\r\n"
        assert _raw_status(cluster.edge_port, request) == b"400", host_lines
    no_host_probe = b"GET /healthz HTTP/1.0\r\n\r\n"  # as load balancers send it
    assert _raw_status(cluster.edge_port, no_host_probe) == b"200"
    metrics = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics").text
    assert "clickgate_edge_clicks_journaled_total 0" in metrics
    assert cluster.clicks("m-foreign") == []


def test_grpc_health_reports_serving(cluster: Cluster) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    cluster.bootstrap()
    cluster.start_control()
    with grpc.insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "clickgate.v1.Ingest", "clickgate.v1.Config"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _raw_response(port: int, request: bytes) -> bytes:
    """All a server wrote for one raw request that asks it to close the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def _raw_status(port: int, request: bytes) -> bytes:
    """The status code of one raw HTTP/1.x request, bytes as the server wrote them."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return head.split(b" ", 2)[1]
