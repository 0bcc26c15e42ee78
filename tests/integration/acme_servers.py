"""Real ACME and TLS parts for tests: pebble, pebble-challtestsrv (mock DNS), HAProxy."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.certs import haproxy_config
from tests.cluster import free_port, wait_until

PEBBLE, CHALLTESTSRV, HAPROXY = "/usr/bin/pebble", "/usr/bin/pebble-challtestsrv", "haproxy"
PEBBLE_CAA_IDENTITY = "pebble.letsencrypt.org"  # pebble's name in CAA records


def missing_binaries() -> list[str]:
    found = [os.path.exists(PEBBLE), os.path.exists(CHALLTESTSRV), bool(_haproxy_path())]
    return [name for name, ok in zip((PEBBLE, CHALLTESTSRV, HAPROXY), found, strict=True) if not ok]


def _haproxy_path() -> str | None:
    return shutil.which(HAPROXY) or (
        "/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None
    )


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A throwaway certificate for localhost/127.0.0.1 (pebble's API, HAProxy's default)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Processes:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    def close(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {n}\n{(self.tmp / f'{n}.log').read_text(errors='replace')[-3000:]}"
            for n in self.procs
        )


class AcmeServers(Processes):
    """pebble (real HTTP-01 validation, some nonces rejected) resolving through challtestsrv."""

    def __init__(self, tmp: Path, http01_port: int, cert_seconds: int) -> None:
        super().__init__(tmp)
        self.dns_port, self.dns_mgmt = free_port(), free_port()
        self.acme_port, self.mgmt_port = free_port(), free_port()
        self.api_cert, api_key = self_signed(tmp, "pebble-api")
        self._write_config(api_key, http01_port, cert_seconds)
        self.spawn(
            "challtestsrv",
            [
                *(CHALLTESTSRV, "-management", f"127.0.0.1:{self.dns_mgmt}"),
                *("-dns01", f"127.0.0.1:{self.dns_port}", "-defaultIPv6", ""),
                *("-http01", "", "-https01", "", "-tlsalpn01", ""),
            ],
        )
        env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "15"}
        self.spawn(
            "pebble",
            [
                PEBBLE,
                "-config",
                str(tmp / "pebble.json"),
                "-dnsserver",
                f"127.0.0.1:{self.dns_port}",
            ],
            env,
        )
        wait_until(lambda: self._get(self.directory).status_code == 200, 20, "pebble")
        wait_until(lambda: self.dns("clear-txt", host="x.test.") or True, 20, "challtestsrv")

    def _write_config(self, api_key: Path, http01_port: int, cert_seconds: int) -> None:
        config = {
            "listenAddress": f"127.0.0.1:{self.acme_port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": str(self.api_cert),
            "privateKey": str(api_key),
            "httpPort": http01_port,  # where pebble validates HTTP-01: HAProxy's plain port
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": cert_seconds,
        }
        (self.tmp / "pebble.json").write_text(json.dumps({"pebble": config}))

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    def _get(self, url: str) -> httpx.Response:
        context = ssl.create_default_context(cafile=str(self.api_cert))
        return httpx.get(url, verify=context, timeout=5)

    def root_pem(self) -> str:
        """Pebble's (per-run) root: the only CA a test client trusts."""
        return self._get(f"https://127.0.0.1:{self.mgmt_port}/roots/0").text

    def dns(self, action: str, **body: object) -> bool:
        url = f"http://127.0.0.1:{self.dns_mgmt}/{action}"
        return httpx.post(url, json=body, timeout=5).status_code == 200

    def set_cname(self, host: str, target: str) -> None:
        assert self.dns("set-cname", host=f"{host}.", target=f"{target}.")

    def set_txt(self, host: str, value: str) -> None:
        assert self.dns("set-txt", host=f"{host}.", value=value)

    def prove(self, domain: dict[str, Any], target: str) -> None:
        """What the domain's owner does with the API's answer: the CNAME and the TXT proof."""
        self.set_cname(domain["name"], target)
        proof = domain["verification_record"]
        self.set_txt(proof["name"], proof["value"])

    def add_caa(self, host: str, issuer: str) -> None:
        assert self.dns("add-caa", host=f"{host}.", policies=[{"tag": "issue", "value": issuer}])

    def set_servfail(self, host: str) -> None:
        assert self.dns("set-servfail", host=f"{host}.")


class HAProxy(Processes):
    """Debian's HAProxy in front of one edge: plain HTTP and TLS with certs by SNI."""

    def __init__(self, tmp: Path, edge_port: int, cert_dir: Path) -> None:
        super().__init__(tmp)
        self.http_port, self.https_port = free_port(), free_port()
        self.socket = str(tmp / "haproxy.sock")
        cert_dir.mkdir(parents=True, exist_ok=True)
        (cert_dir / "crt-list.txt").touch()
        (cert_dir / "https-only.map").touch()
        crt, key = self_signed(tmp, "default")
        default = tmp / "default.pem"
        default.write_text(crt.read_text() + key.read_text())
        config = haproxy_config(
            http_bind=f"127.0.0.1:{self.http_port}",
            https_bind=f"127.0.0.1:{self.https_port}",
            edge=f"127.0.0.1:{edge_port}",
            default_pem=str(default),
            cert_dir=str(cert_dir),
            socket_path=self.socket,
        )
        (tmp / "haproxy.cfg").write_text(config)
        self.spawn("haproxy", [_haproxy_path() or HAPROXY, "-db", "-f", str(tmp / "haproxy.cfg")])
        wait_until(lambda: os.path.exists(self.socket), 10, "HAProxy")

    @property
    def pid(self) -> int:
        return self.procs["haproxy"].pid


def https_get(port: int, sni: str, path: str, cafile: str) -> tuple[int, dict[str, str], int]:
    """GET over TLS to 127.0.0.1 with this SNI and Host: (status, headers, cert serial)."""
    context = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        serial = x509.load_der_x509_certificate(tls.getpeercert(True) or b"").serial_number
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        with contextlib.suppress(OSError):
            while chunk := tls.recv(65536):
                data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split(" ", 2)[1]), {k.lower(): v for k, v in headers.items()}, serial


def served_serial(port: int, sni: str, cafile: str) -> int:
    """The serial of the certificate the terminator presents for this SNI (verified)."""
    context = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(True) or b"").serial_number
