"""Three control plane replicas on one PostgreSQL: due work is done by exactly one of them.

What Kubernetes runs (clickgate-control, replicas >= 2), on loopback: three real
`clickgate control` processes against one database, one edge, HAProxy, and pebble as
the CA. Every replica runs every background job; the database decides who does what.

- Webhooks: 160 deliveries become due in one transaction; a loopback receiver
  counts them by webhook-id and finds out which replica sent each one (the sending
  socket's owner in /proc), so the test also shows that the work was shared.
- ACME: a customer domain gets a certificate and, 20 s certificates being what pebble
  issues here, renewals; each is due on all three replicas at once, yet pebble issues
  one certificate per renewal period (never two seconds apart), the replicas' logs
  account for each one, and every order pebble saw was counted by a claimant.
"""

from __future__ import annotations

import http.server
import itertools
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from control.clock import now_ms
from control.db.engine import make_engine, make_sessionmaker
from control.db.migrate import upgrade
from control.db.models import WebhookDelivery
from control.domains import add_domain
from control.tenants import create_api_key, create_tenant
from edge.sealing import Sealer, parse_key
from tests.cluster import MASTER_KEY, Cluster, free_port, wait_until
from tests.conftest import require
from tests.integration.acme_servers import (
    PEBBLE_CAA_IDENTITY,
    AcmeServers,
    HAProxy,
    missing_binaries,
)

REPLICAS = ("control-0", "control-1", "control-2")
TARGET = "edge.clickgate.test"
DOMAIN = "click.replicas.test"
CERT_SECONDS = 20  # renewal is due two thirds in: about 14 s after issuance
DELIVERIES_PER_ENDPOINT = 80


@dataclass
class Fleet:
    cluster: Cluster
    acme: AcmeServers
    haproxy: HAProxy
    api_ports: dict[str, int] = field(default_factory=dict)

    def diagnostics(self) -> str:
        return "\n".join((self.cluster.logs(), self.acme.logs(), self.haproxy.logs()))

    def replica_pids(self) -> dict[int, str]:
        """pid -> replica, for each Granian server and its worker (where the jobs run)."""
        owners: dict[int, str] = {}
        for name in REPLICAS:
            pid = self.cluster.procs[name].pid
            owners[pid] = name
            for child in _children(pid):
                owners[child] = name
        return owners


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@pytest.fixture(scope="module")
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    import psycopg

    server = str(request.getfixturevalue("pg_server"))
    name = f"clickgate_replicas_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{server.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Fleet]:
    missing = missing_binaries()
    require(not missing, f"needs {', '.join(missing)} (apt-get install pebble haproxy)")
    tmp = tmp_path_factory.mktemp("replicas")
    cluster = Cluster(tmp, database)
    haproxy = HAProxy(tmp, cluster.edge_port, tmp / "certs")
    acme = AcmeServers(tmp, haproxy.http_port, CERT_SECONDS)
    fleet = Fleet(cluster, acme, haproxy)
    try:
        cluster.env.update(
            {
                "CLICKGATE_CNAME_TARGET": TARGET,
                "CLICKGATE_DNS_RESOLVER": f"127.0.0.1:{acme.dns_port}",
                "CLICKGATE_DNS_RECHECK_SECONDS": "0.5",
                "CLICKGATE_ACME_DIRECTORY": acme.directory,
                "CLICKGATE_ACME_CA_BUNDLE": str(acme.api_cert),
                "CLICKGATE_ACME_CAA_IDENTITIES": PEBBLE_CAA_IDENTITY,
                "CLICKGATE_ACME_RETRY_SECONDS": "1",
                "CLICKGATE_WEBHOOK_ALLOW_PRIVATE": "true",
                "CLICKGATE_EDGE_CERT_DIR": str(tmp / "certs"),
                "CLICKGATE_EDGE_HAPROXY_SOCKET": haproxy.socket,
                "CLICKGATE_EDGE_TRUSTED_PROXIES": "127.0.0.1/32",
            }
        )
        bootstrap(cluster)
        start_replicas(fleet)  # and the edge, which streams config from control-0
        # Issuance starts now and renewal follows; the webhook test runs meanwhile.
        registered = cluster.api("POST", "/v1/domains", json={"name": DOMAIN})
        assert registered.status_code == 201, registered.text
        acme.prove(registered.json(), TARGET)
        yield fleet
    finally:
        if "edge" in cluster.procs:
            cluster.stop("edge")
        cluster.close()
        acme.close()
        haproxy.close()


def bootstrap(cluster: Cluster) -> None:
    """What `clickgate migrate` and `clickgate tenant create` do, in this process: each
    CLI run would pay the imports of a control plane again (seconds on a busy machine)."""
    engine = make_engine(cluster.env["CLICKGATE_DATABASE_URL"])
    try:
        upgrade(engine)
        with make_sessionmaker(engine).begin() as session:
            tenant = create_tenant(session, Sealer(parse_key(MASTER_KEY)), "replicas")
            add_domain(session, tenant.id, "localhost", default=True)
            cluster.api_key = create_api_key(session, tenant.id)
    finally:
        engine.dispose()


def start_replicas(fleet: Fleet) -> None:
    """Start the three replicas and the edge at once, then wait for all of them."""
    cluster = fleet.cluster
    for i, name in enumerate(REPLICAS):
        api, grpc = (cluster.api_port, cluster.grpc_port) if i == 0 else (free_port(), free_port())
        cluster.start(name, "control", CLICKGATE_API_PORT=str(api), CLICKGATE_GRPC_PORT=str(grpc))
        fleet.api_ports[name] = api
    cluster.start_edge(wait_ready=False)
    for name, port in fleet.api_ports.items():
        url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda u=url: httpx.get(u).status_code == 200, 120, f"{name} API")
    ready = f"{cluster.edge_url}/readyz"
    wait_until(lambda: httpx.get(ready).status_code == 200, 60, "edge ready")


# ---- webhooks ----------------------------------------------------------------------------


def socket_owner(port: int, owners: dict[int, str]) -> str:
    """The replica whose process holds the loopback TCP socket bound to this local port."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    for pid, name in owners.items():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return name
    return "?"


class Receiver:
    """A loopback webhook receiver: webhook-ids as they arrive and who sent each one."""

    def __init__(self, owners: dict[int, str]) -> None:
        self.ids: list[str] = []
        self.senders: Counter[str] = Counter()
        lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                sender = socket_owner(self.client_address[1], owners)  # connection still open
                time.sleep(0.005)  # a receiver that takes a moment: claims overlap
                with lock:
                    receiver.ids.append(self.headers["webhook-id"])
                    receiver.senders[sender] += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_due(database_url: str, endpoint_ids: list[int], tenant_id: int) -> set[str]:
    """Outbox rows, all due now, committed at once (as a large ingest batch would)."""
    engine = make_engine(database_url)
    now, ids = now_ms(), set()
    try:
        with make_sessionmaker(engine).begin() as session:
            for endpoint_id in endpoint_ids:
                for n in range(DELIVERIES_PER_ENDPOINT):
                    click_id = f"{endpoint_id:04x}{n:028x}"
                    delivery_id = f"msg_{click_id}_{endpoint_id}"
                    ids.add(delivery_id)
                    session.add(
                        WebhookDelivery(
                            id=delivery_id,
                            endpoint_id=endpoint_id,
                            tenant_id=tenant_id,
                            click_id=click_id,
                            event_time_ms=now,
                            payload=f'{{"type":"click","click_id":"{click_id}"}}',
                            status="pending",
                            attempts=0,
                            next_attempt_ms=now,
                            locked_by="",
                            locked_until_ms=0,
                            attempt_log=[],
                            created_ms=now,
                        )
                    )
    finally:
        engine.dispose()
    return ids


def delivery_states(database_url: str) -> Counter[tuple[str, int]]:
    from sqlalchemy import select

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(WebhookDelivery.status, WebhookDelivery.attempts))
            return Counter((status, attempts) for status, attempts in rows)
    finally:
        engine.dispose()


def test_each_due_webhook_is_sent_by_exactly_one_replica(fleet: Fleet) -> None:
    cluster = fleet.cluster
    receiver = Receiver(fleet.replica_pids())
    try:
        endpoint_ids = []
        for path in ("/a", "/b"):
            spec = {"url": f"http://127.0.0.1:{receiver.port}{path}", "include_bots": True}
            hook = cluster.api("POST", "/v1/webhooks", json=spec)
            assert hook.status_code == 201, hook.text
            endpoint_ids.append(int(hook.json()["id"]))
        tenant_id = int(cluster.api("GET", "/v1/tenant").json()["id"])
        url = cluster.env["CLICKGATE_DATABASE_URL"]
        expected = make_due(url, endpoint_ids, tenant_id)

        wait_until(lambda: set(receiver.ids) >= expected, 30, "every delivery", interval=0.2)
        done = {("delivered", 1): len(expected)}
        wait_until(lambda: delivery_states(url) == done, 10, "every delivery recorded")
        time.sleep(1.5)  # a further poll of every replica's dispatcher sends nothing again
        sent = Counter(receiver.ids)
        twice = {i: n for i, n in sent.items() if n > 1}
        assert not twice, f"sent more than once: {list(twice.items())[:5]}"
        assert set(sent) == expected and len(receiver.ids) == len(expected)
        assert delivery_states(url) == done
        # Not one replica doing everything: the claims really were contended.
        shared = {name for name in receiver.senders if name in REPLICAS}
        assert len(shared) >= 2, f"senders: {dict(receiver.senders)}"
    except AssertionError:
        print(fleet.diagnostics())
        raise
    finally:
        receiver.close()


# ---- ACME ----------------------------------------------------------------------------------


def pebble_log(fleet: Fleet, pattern: str) -> int:
    return len(re.findall(pattern, (fleet.acme.tmp / "pebble.log").read_text(errors="replace")))


def issued_times(fleet: Fleet) -> list[tuple[float, str]]:
    """(seconds of the day, replica) of every "certificate issued" line of every replica."""
    found = []
    for name in REPLICAS:
        log = (fleet.cluster.tmp / f"{name}.log").read_text(errors="replace")
        for h, m, s in re.findall(
            rf"(\d\d):(\d\d):(\d\d,\d+) .*certificate issued for {DOMAIN}", log
        ):
            found.append((int(h) * 3600 + int(m) * 60 + float(s.replace(",", ".")), name))
    return sorted(found)


def orders_placed(fleet: Fleet) -> int:
    response = fleet.cluster.api("GET", f"/v1/domains/{DOMAIN}")
    assert response.status_code == 200, response.text
    return int(response.json()["certificate"]["orders_placed"])


def test_issuance_and_renewal_are_ordered_by_exactly_one_replica(fleet: Fleet) -> None:
    try:
        # The first certificate and at least one renewal, each due on all three replicas.
        wait_until(lambda: pebble_log(fleet, "Issued certificate") >= 2, 60, "a renewal")
        time.sleep(1.5)  # a second order for the same renewal would have been placed by now
        issued = pebble_log(fleet, "Issued certificate serial")
        ours = issued_times(fleet)
        assert len(ours) == issued, ours
        # A renewal is due two thirds into a 20 s lifetime: issuances 13 s or so apart.
        # Two replicas renewing the same certificate would show up seconds apart.
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(ours)]
        assert all(gap > CERT_SECONDS / 2 for gap in gaps), ours
        # Every order the CA saw was placed by a replica that had claimed the attempt and
        # counted it (orders broken by pebble's rejected nonces are counted too).
        assert pebble_log(fleet, "Added order") <= orders_placed(fleet)
    except AssertionError:
        print(fleet.diagnostics())
        raise
