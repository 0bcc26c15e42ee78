"""Edge lifecycle: SIGTERM drains and ships, restarts resume, metrics tell the truth."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import grpc
import httpx
import pytest
from clickgate.v1 import ingest_pb2, ingest_pb2_grpc

from edge import token
from edge.record import encode_record
from tests.cluster import Cluster, wait_until
from tests.load import ClickLoad

# What these tests watch happens in the edge; the control plane only stores what it is
# sent, which the durability and end-to-end tests check on both databases. One database
# here keeps the suite within its time budget.
edge_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def metric(cluster: Cluster, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics:\n{text}")


@edge_only
def test_sigterm_finishes_requests_ships_everything_and_exits_in_grace(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    path = cluster.mint("https://example.com/", message_id="m-term").split(
        f":{cluster.edge_port}", 1
    )[1]
    with ClickLoad(cluster.edge_url, f"localhost:{cluster.edge_port}", [path]) as load:
        time.sleep(1.5)
        started = time.monotonic()
        code = cluster.stop("edge", signal.SIGTERM)
        took = time.monotonic() - started
    assert code == 0
    assert took < float(cluster.env["CLICKGATE_EDGE_GRACE"]) + 2
    served = len(load.redirected)
    assert served > 100
    # Shipped before exit: the clicks are stored without the edge running any more.
    stored = {c["user_agent"] for c in cluster.clicks("m-term")}
    assert load.redirected <= stored


@edge_only
def test_restart_while_control_plane_down_serves_from_snapshot(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    tracked = cluster.mint("https://example.com/snap", message_id="m-snap")
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    cluster.stop("control", signal.SIGKILL)
    cluster.stop("edge")
    cluster.start_edge()  # ready from the snapshot on disk, no control plane
    host = {"Host": f"localhost:{cluster.edge_port}"}
    response = httpx.get(cluster.edge_url + path, headers=host)
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/snap"
    assert metric(cluster, "clickgate_edge_ship_failures_total") >= 0
    cluster.start_control()
    # The agent may sit in its shipping backoff (capped at 1 s by the cluster's settings)
    # when the control plane comes back.
    wait_until(lambda: cluster.clicks("m-snap"), 60, "the click after the outage")


@edge_only
def test_edge_metrics_count_what_happened(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    tracked = cluster.mint("https://example.com/m", message_id="m-metrics")
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    host = {"Host": f"localhost:{cluster.edge_port}"}
    for _ in range(5):
        assert httpx.get(cluster.edge_url + path, headers=host).status_code == 302
    httpx.get(cluster.edge_url + "/nope", headers=host)
    wait_until(lambda: metric(cluster, "clickgate_edge_clicks_shipped_total") == 5, 10, "shipping")
    assert metric(cluster, 'clickgate_edge_requests_total{status="302"}') == 5
    assert metric(cluster, 'clickgate_edge_requests_total{status="404"}') == 1
    assert metric(cluster, "clickgate_edge_clicks_journaled_total") == 5
    assert metric(cluster, "clickgate_edge_config_revision") >= 1
    assert metric(cluster, "clickgate_edge_config_age_seconds") >= 0
    assert httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/readyz").status_code == 200
    control = httpx.get(f"{cluster.api_url}/metrics").text
    assert "clickgate_clicks_ingested_total 5" in control
    # The agent that shipped them runs below the workers' priority (EdgeSettings.agent_nice).
    assert niceness(agent_pid(cluster.procs["edge"].pid)) == 10
    assert niceness(cluster.procs["edge"].pid) == 0


def agent_pid(edge_pid: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd, stat = (entry / "cmdline").read_bytes(), (entry / "stat").read_text()
            except OSError:
                continue
            if b"edge.agent" in cmd and int(stat.rpartition(")")[2].split()[1]) == edge_pid:
                return int(entry.name)
    raise AssertionError(f"no edge agent under pid {edge_pid}")


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[16])


def test_batch_with_a_malformed_click_stores_the_others(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    tracked = cluster.mint("https://example.com/b", message_id="m-batch")
    netloc_token = tracked.split(f":{cluster.edge_port}/", 1)[1]

    key_id, secret = cluster.signing_key()
    opened = token.open_token(netloc_token, {key_id: secret})
    assert opened is not None

    def record(n: int, raw: bytes) -> bytes:
        click_id = n.to_bytes(16, "big")
        fields = (click_id, 1, 302, b"GET", b"localhost", "192.0.2.1", b"ua", b"", b"", b"")
        return encode_record((*fields, opened.netloc, raw))

    forged = bytearray(opened.raw)
    forged[-1] ^= 1
    records = [
        record(1, opened.raw),
        b"\x93garbage",
        record(2, bytes(forged)),
        record(3, opened.raw),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{cluster.grpc_port}") as channel:
        stub = ingest_pb2_grpc.IngestStub(channel)
        auth = (("authorization", "Bearer test-edge-token"),)
        request = ingest_pb2.IngestClicksRequest(edge_id="t", records=records)
        reply = stub.IngestClicks(request, metadata=auth, timeout=10)
        again = stub.IngestClicks(request, metadata=auth, timeout=10)
        try:
            stub.IngestClicks(request, timeout=10)
            raise AssertionError("unauthenticated ingest was accepted")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (reply.inserted, reply.duplicates) == (2, 0)
    assert [(r.index, r.reason) for r in reply.rejected] == [(1, "malformed"), (2, "bad_token")]
    assert (again.inserted, again.duplicates) == (0, 2)
    assert len(cluster.clicks("m-batch")) == 2


@edge_only
def test_clicks_after_a_restart_are_shipped_too(cluster: Cluster) -> None:
    # SIGTERM leaves the slot fully shipped (its segments deleted, the cursor past them);
    # the next worker on that slot must write where the agent reads, restart after restart.
    cluster.bootstrap()
    cluster.start_control()
    tracked = cluster.mint("https://example.com/again", message_id="m-again")
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    host = {"Host": f"localhost:{cluster.edge_port}"}
    for run in range(3):
        cluster.start_edge()
        with httpx.Client(base_url=cluster.edge_url, headers=host) as client:
            for n in range(5):
                agent = {"User-Agent": f"run{run}/{n}"}
                assert client.get(path, headers=agent).status_code == 302
        assert cluster.stop("edge", signal.SIGTERM) == 0
    expected = {f"run{run}/{n}" for run in range(3) for n in range(5)}
    cluster.start_edge()  # what a drain could not ship in its grace ships now
    wait_until(
        lambda: {c["user_agent"] for c in cluster.clicks("m-again")} == expected, 30, "clicks"
    )


def _workers(edge_pid: int) -> set[int]:
    """The Granian worker processes of an edge (its children other than the agent)."""
    children = Path(f"/proc/{edge_pid}/task/{edge_pid}/children").read_text().split()
    workers = set()
    for pid in map(int, children):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue  # gone since the list was read
        if b"edge.agent" not in cmdline:
            workers.add(pid)
    return workers


@edge_only
def test_a_killed_worker_is_replaced_and_the_edge_serves_on(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start("edge", "edge", CLICKGATE_EDGE_WORKERS="2")
    wait_until(lambda: httpx.get(f"{cluster.edge_url}/readyz").status_code == 200, 30, "edge")
    edge = cluster.procs["edge"]
    wait_until(lambda: len(_workers(edge.pid)) == 2, 30, "two workers")
    path = cluster.mint("https://example.com/w", message_id="m-worker").split(
        f":{cluster.edge_port}", 1
    )[1]
    with ClickLoad(cluster.edge_url, f"localhost:{cluster.edge_port}", [path]) as load:
        time.sleep(1)
        before = _workers(edge.pid)
        victim = min(before)
        os.kill(victim, signal.SIGSEGV)  # as a crash in native code would
        replaced = wait_until(
            lambda: len(now := _workers(edge.pid)) == 2 and victim not in now and now,
            30,
            "a new worker in place of the killed one",
        )
        served_after_kill = len(load.redirected)
        time.sleep(1.5)
    assert edge.poll() is None, "the edge stopped when one worker died"
    # The crash is in the edge's log, with its Python stacks (faulthandler), so an
    # operator can tell a crash from a kill.
    log = (cluster.tmp / "edge.log").read_text(errors="replace")
    assert "Fatal Python error: Segmentation fault" in log, log[-3000:]
    assert "Unexpected exit from worker" in log, log[-3000:]
    assert replaced - before, "no new worker process"
    assert len(load.redirected) > served_after_kill + 50  # it went on serving
    # Every click that got a 302 is stored, those of the killed worker included: its
    # journal writes were in the page cache, and the agent ships them.
    stored = wait_until(
        lambda: (
            (s := {c["user_agent"] for c in cluster.clicks("m-worker")}) >= load.redirected and s
        ),
        30,
        "every redirected click stored",
    )
    assert load.redirected <= stored
