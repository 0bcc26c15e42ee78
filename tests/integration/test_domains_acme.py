"""Customer click domains against real servers: pebble (ACME), challtestsrv (DNS), HAProxy (TLS)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from bench.common import BROWSER_HEADERS
from control.db.engine import make_engine
from tests.cluster import Cluster, wait_until
from tests.conftest import require
from tests.integration.acme_servers import (
    PEBBLE_CAA_IDENTITY,
    AcmeServers,
    HAProxy,
    https_get,
    missing_binaries,
    served_serial,
)

TARGET = "edge.clickgate.test"
DOMAIN = "click.brand.test"
CERT_SECONDS = 20  # short-lived certificates, so renewal happens within the test


@dataclass
class World:
    cluster: Cluster
    acme: AcmeServers
    haproxy: HAProxy
    root: str  # pebble's root certificate (file), the only CA a client trusts

    def domain(self, name: str) -> dict[str, Any]:
        response = self.cluster.api("GET", f"/v1/domains/{name}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def query(self, sql: str) -> list[Any]:
        engine = make_engine(self.cluster.env["CLICKGATE_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql)))
        finally:
            engine.dispose()

    def orders_placed(self) -> int:
        return int(self.query("SELECT COALESCE(SUM(orders_placed), 0) FROM certificates")[0][0])

    def diagnostics(self) -> str:
        return "\n".join((self.cluster.logs(), self.acme.logs(), self.haproxy.logs()))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database for the module's cluster (the suite's pg_url fixture is per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('acme-db') / 'clickgate.db'}"
        return
    import psycopg

    server = str(request.getfixturevalue("pg_server"))
    name = f"clickgate_acme_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{server.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[World]:
    missing = missing_binaries()
    require(not missing, f"needs {', '.join(missing)} (apt-get install pebble haproxy)")
    tmp = tmp_path_factory.mktemp("acme")
    cluster = Cluster(tmp, database)
    haproxy = HAProxy(tmp, cluster.edge_port, tmp / "certs")
    acme = AcmeServers(tmp, haproxy.http_port, CERT_SECONDS)
    root = tmp / "pebble-root.pem"
    try:
        root.write_text(acme.root_pem())
        cluster.env.update(
            {
                "CLICKGATE_CNAME_TARGET": TARGET,
                "CLICKGATE_DNS_RESOLVER": f"127.0.0.1:{acme.dns_port}",
                "CLICKGATE_DNS_RECHECK_SECONDS": "0.5",
                "CLICKGATE_ACME_DIRECTORY": acme.directory,
                "CLICKGATE_ACME_CA_BUNDLE": str(acme.api_cert),
                "CLICKGATE_ACME_CAA_IDENTITIES": PEBBLE_CAA_IDENTITY,
                "CLICKGATE_ACME_RETRY_SECONDS": "1",
                "CLICKGATE_EDGE_CERT_DIR": str(tmp / "certs"),
                "CLICKGATE_EDGE_HAPROXY_SOCKET": haproxy.socket,
                "CLICKGATE_EDGE_TRUSTED_PROXIES": "127.0.0.1/32",
            }
        )
        cluster.bootstrap()
        cluster.start_control()
        cluster.start_edge()
        yield World(cluster, acme, haproxy, str(root))
    finally:
        if "edge" in cluster.procs:  # first, so it ships its last clicks to a live control plane
            cluster.stop("edge")
        cluster.close()
        acme.close()
        haproxy.close()


def wait_for(world: World, name: str, check: Any, timeout: float, what: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        domain = world.domain(name)
        return domain if check(domain) else None

    try:
        return dict(wait_until(probe, timeout, what))
    except AssertionError:
        print(world.diagnostics())
        raise


def certified(world: World) -> None:
    """DOMAIN with its certificate. The first test registers it; under xdist a later test
    may run in a worker (with a world of its own) where that test did not, so register it."""
    if world.cluster.api("GET", f"/v1/domains/{DOMAIN}").status_code == 404:
        registered = world.cluster.api("POST", "/v1/domains", json={"name": DOMAIN})
        assert registered.status_code == 201, registered.text
        world.acme.prove(registered.json(), TARGET)
    wait_for(world, DOMAIN, lambda d: d["certificate"]["status"] == "issued", 30, "certificate")

    def served() -> bool:
        with contextlib.suppress(ssl.SSLError, OSError):
            return served_serial(world.haproxy.https_port, DOMAIN, world.root) > 0
        return False

    wait_until(served, 10, "HAProxy to serve the certificate")


def test_registered_domain_gets_a_certificate_and_serves_https(world: World) -> None:
    response = world.cluster.api("POST", "/v1/domains", json={"name": "Click.Brand.Test."})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == DOMAIN and body["state"] == "pending"
    assert body["dns_record"] == {"type": "CNAME", "name": DOMAIN, "value": TARGET}
    proof = body["verification_record"]
    assert proof["type"] == "TXT" and proof["name"] == f"_clickgate.{DOMAIN}"

    world.acme.prove(body, TARGET)
    verified = wait_for(world, DOMAIN, lambda d: d["state"] == "verified", 10, "verified")
    assert TARGET in verified["reason"] and proof["name"] in verified["reason"]
    assert verified["verification_record"] is None
    issued = wait_for(
        world, DOMAIN, lambda d: d["certificate"]["status"] == "issued", 30, "certificate"
    )
    cert = issued["certificate"]
    assert "Pebble" in cert["issuer"] and cert["not_after_ms"] > cert["next_renewal_ms"]

    destination = "https://shop.example/sale?id=7"
    tracked = world.cluster.mint(destination, domain=DOMAIN, message_id="m-https")
    parts = urlsplit(tracked)
    assert parts.hostname == DOMAIN
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    status, headers, _ = wait_until(
        lambda: https_get(world.haproxy.https_port, DOMAIN, path, world.root), 10, "HTTPS 302"
    )
    assert (status, headers["location"]) == (302, destination)
    assert "strict-transport-security" not in headers
    plain = f"http://127.0.0.1:{world.haproxy.http_port}{path}"
    assert httpx.get(plain, headers={"Host": DOMAIN}).status_code == 302  # old clients work
    clicks = wait_until(lambda: world.cluster.clicks("m-https"), 10, "the HTTPS click")
    assert clicks[0]["url"] == destination
    assert clicks[0]["ip"].startswith("127.0.0.")  # HAProxy's X-Forwarded-For, trusted from it


def test_https_only_redirects_plain_http_and_sends_hsts(world: World) -> None:
    certified(world)
    changed = world.cluster.api("PATCH", f"/v1/domains/{DOMAIN}", json={"https_only": True})
    assert changed.status_code == 200 and changed.json()["https_only"] is True
    path = urlsplit(world.cluster.mint("https://shop.example/", domain=DOMAIN)).path
    plain = f"http://127.0.0.1:{world.haproxy.http_port}{path}"
    moved = wait_until(
        lambda: (r := httpx.get(plain, headers={"Host": DOMAIN})).status_code == 301 and r,
        10,
        "301 to HTTPS",
    )
    assert moved.headers["location"] == f"https://{DOMAIN}{path}"
    challenge = f"http://127.0.0.1:{world.haproxy.http_port}/.well-known/acme-challenge/t"
    assert httpx.get(challenge, headers={"Host": DOMAIN}).status_code == 404  # not redirected
    status, headers, _ = https_get(world.haproxy.https_port, DOMAIN, path, world.root)
    assert status == 302 and headers["strict-transport-security"].startswith("max-age=")
    world.cluster.api("PATCH", f"/v1/domains/{DOMAIN}", json={"https_only": False})
    wait_until(lambda: httpx.get(plain, headers={"Host": DOMAIN}).status_code == 302, 10, "HTTP")


def test_the_longest_link_the_api_mints_passes_the_terminator(world: World) -> None:
    """A ~37 KB request line: HAProxy's default 16 KB buffer answered it with a 400."""
    certified(world)
    wide = "\U0001f600"  # four bytes of UTF-8 for one character of the API's limits
    destination = "https://shop.example/?q=" + "x" * (16_384 - 24)
    tracked = world.cluster.mint(
        destination,
        domain=DOMAIN,
        message_id=wide * 200,
        tags=[wide * 128] * 20,
        recipient="r" * 64,
    )
    path = urlsplit(tracked).path
    assert len(path) > 32_768
    headers = {"Host": DOMAIN, **dict(BROWSER_HEADERS)}
    plain = httpx.get(f"http://127.0.0.1:{world.haproxy.http_port}{path}", headers=headers)
    assert (plain.status_code, plain.headers["location"]) == (302, destination)
    status, got, _ = https_get(world.haproxy.https_port, DOMAIN, path, world.root)
    assert (status, got["location"]) == (302, destination)


def arrange_dns(acme: AcmeServers, problem: str, domain: dict[str, Any]) -> None:
    name = domain["name"]
    if problem == "wrong":
        acme.set_cname(name, "elsewhere.example")
    elif problem == "caa":  # the customer's zone allows only another CA (set up first:
        acme.add_caa(name.split(".", 1)[1], "letsencrypt.org")  # a check may run any time)
        acme.prove(domain, TARGET)
    elif problem == "servfail":
        acme.set_servfail(name)
    elif problem == "unproved":  # the owner's CNAME, but this registration is not theirs
        acme.set_cname(name, TARGET)
        acme.set_txt(f"_clickgate.{name}", "clickgate-verification=someone-else")


@pytest.mark.parametrize(
    ("problem", "name", "reason"),
    [
        ("missing", "missing.brand.test", "no CNAME record"),
        ("wrong", "wrong.brand.test", "CNAME points to elsewhere.example"),
        ("caa", "click.caa-brand.test", "CAA record at caa-brand.test allows only letsencrypt.org"),
        ("servfail", "fail.brand.test", "SERVFAIL"),
        ("unproved", "squatted.brand.test", "does not hold this domain's verification value"),
    ],
)
def test_dns_problems_are_explained_and_never_ordered(
    world: World, problem: str, name: str, reason: str
) -> None:
    response = world.cluster.api("POST", "/v1/domains", json={"name": name})
    assert response.status_code == 201, response.text
    arrange_dns(world.acme, problem, response.json())
    failed = wait_for(
        world, name, lambda d: d["state"] == "failed" and reason in d["reason"], 10, reason
    )
    again = world.cluster.api("POST", f"/v1/domains/{name}/check")
    assert again.status_code == 200 and again.json()["state"] == "failed"
    assert reason in again.json()["reason"]
    assert failed["certificate"]["orders_placed"] == 0
    assert again.json()["certificate"]["status"] == "none"


def test_random_sni_and_host_never_cause_an_order(world: World) -> None:
    before = world.orders_placed()
    for _ in range(5):
        name = f"{secrets.token_hex(4)}.random.test"
        assert https_status_insecure(world.haproxy.https_port, name) == 404
        challenge = f"http://127.0.0.1:{world.haproxy.http_port}/.well-known/acme-challenge/x"
        assert httpx.get(challenge, headers={"Host": name}).status_code == 404
    names = {row[0] for row in world.query("SELECT name FROM domains")}
    assert not any(n.endswith(".random.test") for n in names)
    assert world.orders_placed() == before


def https_status_insecure(port: int, sni: str) -> int:
    """Any SNI gets the default certificate and a 404, never a new order."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        tls.sendall(f"GET /x HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
        head = tls.recv(65536).decode(errors="replace")
    return int(head.split(" ", 2)[1])


def test_one_tenant_per_domain_and_removal(world: World) -> None:
    other = world.cluster.cli("tenant", "create", f"other-{secrets.token_hex(3)}")
    other_key = dict(line.split(": ", 1) for line in other.splitlines())["api_key"]
    name = "owned.brand.test"
    assert world.cluster.api("POST", "/v1/domains", json={"name": name}).status_code == 201
    headers = {"Authorization": f"Bearer {other_key}"}
    url = f"{world.cluster.api_url}/v1/domains"
    taken = httpx.post(url, json={"name": name}, headers=headers)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    assert httpx.get(f"{url}/{name}", headers=headers).status_code == 404
    assert world.cluster.api("POST", "/v1/domains", json={"name": "not a host"}).status_code == 400
    assert world.cluster.api("DELETE", f"/v1/domains/{name}").status_code == 204
    assert world.cluster.api("GET", f"/v1/domains/{name}").status_code == 404


def test_renewal_is_served_without_restarting_the_terminator(world: World) -> None:
    certified(world)
    port, pid = world.haproxy.https_port, world.haproxy.pid
    first = served_serial(port, DOMAIN, world.root)
    renewed = wait_until(
        lambda: (s := served_serial(port, DOMAIN, world.root)) != first and s,
        CERT_SECONDS + 10,
        "a renewed certificate served by HAProxy",
    )
    assert renewed != first
    proc: subprocess.Popen[bytes] = world.haproxy.procs["haproxy"]
    assert proc.poll() is None and proc.pid == pid  # same process: loaded live, no restart


def test_removal_stops_serving_the_domain(world: World) -> None:
    certified(world)
    assert world.cluster.api("DELETE", f"/v1/domains/{DOMAIN}").status_code == 204

    def unserved() -> bool:
        try:
            served_serial(world.haproxy.https_port, DOMAIN, world.root)
        except ssl.SSLCertVerificationError:
            return True  # only the default certificate is left for this SNI
        return False

    wait_until(unserved, 10, "HAProxy to drop the certificate")
    assert world.query("SELECT COUNT(*) FROM certificates")[0][0] == 0  # renewals stop
