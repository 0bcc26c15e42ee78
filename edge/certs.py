"""Hands click domains' certificates to HAProxy: files in cert_dir plus its runtime API.

Each certificate is written as ``<domain>.pem`` (chain then key) and listed in
``<cert_dir>/crt-list.txt``, which HAProxy's TLS bind loads at start. While HAProxy
runs, new and renewed certificates go in through the runtime API (``new/set/commit
ssl cert`` and ``add ssl crt-list``): no reload, no restart, no dropped connections.
HAProxy picks the certificate by SNI from the names in it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from clickgate.v1 import config_pb2

log = logging.getLogger("clickgate.edge.certs")

CRT_LIST = "crt-list.txt"
HTTPS_ONLY_MAP = "https-only.map"  # host -> 1 for domains that opted into HTTPS-only
HSTS = "max-age=31536000"


class HAProxyError(RuntimeError):
    """The runtime API refused a command."""


def pem_bundle(cert: config_pb2.TlsCertificate) -> str:
    """Chain then key, without blank lines (the runtime API ends a payload at one)."""
    text = cert.chain_pem.strip() + "\n" + cert.private_key_pem.decode().strip() + "\n"
    return "\n".join(line for line in text.splitlines() if line.strip()) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private keys inside
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class HAProxyRuntime:
    """One command per connection on HAProxy's stats socket (non-interactive mode)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def run(self, command: str, payload: str = "") -> str:
        line = f"{command} <<\n{payload}\n" if payload else f"{command}\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(self.address)
            sock.sendall(line.encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def install(self, cert_file: str, crt_list: str, pem: str) -> None:
        """Create or replace a certificate in memory, then make sure the bind serves it."""
        exists = "already exists" in self.run(f"new ssl cert {cert_file}")
        answer = self.run(f"set ssl cert {cert_file}", pem)
        if "Transaction created" not in answer and "Transaction updated" not in answer:
            raise HAProxyError(f"set ssl cert {cert_file}: {answer.strip()}")
        answer = self.run(f"commit ssl cert {cert_file}")
        if "Success" not in answer:
            raise HAProxyError(f"commit ssl cert {cert_file}: {answer.strip()}")
        if not exists or cert_file not in self.run(f"show ssl crt-list {crt_list}"):
            answer = self.run(f"add ssl crt-list {crt_list} {cert_file}")
            if "Inserting certificate" not in answer and "Success" not in answer:
                raise HAProxyError(f"add ssl crt-list {cert_file}: {answer.strip()}")

    def sync_map(self, map_file: str, old: set[str] | None, new: set[str]) -> None:
        """Make HAProxy's in-memory map hold exactly `new` (old None: unknown, start over)."""
        if old is None:
            self.run(f"clear map {map_file}")
            old = set()
        for host in sorted(new - old):
            self.run(f"add map {map_file} {host} 1")
        for host in sorted(old - new):
            self.run(f"del map {map_file} {host}")

    def remove(self, cert_file: str, crt_list: str) -> None:
        self.run(f"del ssl crt-list {crt_list} {cert_file}")
        self.run(f"del ssl cert {cert_file}")


class CertInstaller:
    """Keeps cert_dir and HAProxy in step with the certificates in the config snapshot."""

    def __init__(self, cert_dir: str, haproxy_socket: str) -> None:
        self.dir = Path(cert_dir)
        self.runtime = HAProxyRuntime(haproxy_socket) if haproxy_socket else None
        self.loaded: dict[str, str] = {}  # domain -> sha256 of the bundle HAProxy has
        self.https_only: set[str] | None = None  # what HAProxy's map holds; None: unknown

    @property
    def crt_list(self) -> Path:
        return self.dir / CRT_LIST

    def apply(
        self, certs: Iterable[config_pb2.TlsCertificate], https_only: Iterable[str] = ()
    ) -> None:
        """Blocking (files, socket): run it off the request loop."""
        self.dir.mkdir(parents=True, exist_ok=True)
        wanted = {c.domain: pem_bundle(c) for c in certs}
        # The crt-list names only files that exist, so an HAProxy (re)start always loads.
        for domain, pem in sorted(wanted.items()):
            self._install(domain, pem)
        self._write_crt_list(sorted(wanted))
        for domain in sorted(set(self.loaded) - set(wanted)):
            self._remove(domain)
        self._apply_https_only(set(https_only))

    def _apply_https_only(self, hosts: set[str]) -> None:
        if hosts == self.https_only:
            return
        map_file = self.dir / HTTPS_ONLY_MAP
        _write_atomically(map_file, "".join(f"{h} 1\n" for h in sorted(hosts)))
        if self.runtime is not None:
            try:
                self.runtime.sync_map(str(map_file), self.https_only, hosts)
            except OSError as exc:
                log.error("HAProxy did not take the HTTPS-only list: %s", exc)
                self.https_only = None
                return
        self.https_only = hosts

    def _install(self, domain: str, pem: str) -> None:
        digest = hashlib.sha256(pem.encode()).hexdigest()
        if self.loaded.get(domain) == digest:
            return
        path = self.dir / f"{domain}.pem"
        _write_atomically(path, pem)
        if self.runtime is not None:
            try:
                self.runtime.install(str(path), str(self.crt_list), pem)
            except (OSError, HAProxyError) as exc:
                log.error("HAProxy did not take the certificate for %s: %s", domain, exc)
                return  # retried with the next snapshot
        self.loaded[domain] = digest
        log.info("certificate for %s loaded", domain)

    def _remove(self, domain: str) -> None:
        path = self.dir / f"{domain}.pem"
        if self.runtime is not None:
            with contextlib.suppress(OSError):
                self.runtime.remove(str(path), str(self.crt_list))
        path.unlink(missing_ok=True)
        self.loaded.pop(domain, None)

    def _write_crt_list(self, domains: list[str]) -> None:
        _write_atomically(self.crt_list, "".join(f"{self.dir / d}.pem\n" for d in domains))


# A request must fit one buffer: the longest link the API mints has a ~37 KB path, and
# HAProxy's default buffer (16 KB) answered such a click with a 400 before the edge saw it.
HAPROXY_BUFSIZE = 49152

HAPROXY_TEMPLATE = """global
    stats socket {socket_path} mode 600 level admin expose-fd listeners
    tune.bufsize {bufsize}
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option forwardfor
frontend click_http
    bind {http_bind}
    acl acme_challenge path_beg /.well-known/acme-challenge/
    http-request redirect scheme https code 301 if !acme_challenge {{ {https_only} -m found }}
    default_backend edge
frontend click_https
    bind {https_bind} ssl crt {default_pem} crt-list {crt_list} alpn http/1.1
    http-request set-header X-Forwarded-Proto https
    acl https_only var(txn.https_only) -m found
    http-request set-var(txn.https_only) str(1) if {{ {https_only} -m found }}
    http-response set-header Strict-Transport-Security "{hsts}" if https_only
    default_backend edge
backend edge
    server edge {edge}
"""


def haproxy_config(
    *,
    http_bind: str,
    https_bind: str,
    edge: str,
    default_pem: str,
    cert_dir: str,
    socket_path: str,
) -> str:
    """A reference HAProxy 2.6 configuration for one edge (also used by the tests).

    TLS 1.2 and 1.3 only; the client address goes to the edge in X-Forwarded-For,
    which the edge believes only from its trusted_proxies (the terminator's address).
    HTTPS-only domains (a map the edge keeps current) get a 301 on HTTP and HSTS on HTTPS,
    except ACME challenges (renewals validate over plain HTTP); every other domain is
    answered on plain HTTP too, for old clients.
    """
    return HAPROXY_TEMPLATE.format(
        socket_path=socket_path,
        http_bind=http_bind,
        https_bind=https_bind,
        default_pem=default_pem,
        crt_list=Path(cert_dir) / CRT_LIST,
        https_only=f"hdr(host),field(1,:),lower,map({Path(cert_dir) / HTTPS_ONLY_MAP})",
        hsts=HSTS,
        edge=edge,
        bufsize=HAPROXY_BUFSIZE,
    )
