"""The edge's view of the config: an immutable snapshot, validated, persisted on disk.

The on-disk snapshot is sealed (AES-256-GCM) with CLICKGATE_EDGE_SNAPSHOT_KEY, which
comes from the environment (a Kubernetes Secret), not from the disk it protects. It
lets an edge start and keep enforcing revocations while the control plane is down.
Without a snapshot key no snapshot is written at all: signing keys then live only in
memory, and a restarted edge waits for the control plane before it is ready.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from pathlib import Path
from urllib.parse import unquote

from clickgate.v1 import config_pb2

from edge.sealing import Sealer, SealError
from edge.token import KEY_LEN, TAG_LEN, Opened

USABLE_KEY_STATES = frozenset({"verify-only", "active", "retired"})
SNAPSHOT_CONTEXT = b"clickgate-edge-snapshot-v1"
_AUTHORITY_END = re.compile(r"[/?#\\]")


class ConfigError(ValueError):
    """A snapshot that must not replace the one in use."""


class TenantRevocations:
    """One tenant's kill switch entries, in the shapes the request path checks."""

    __slots__ = ("everything", "hosts", "links", "messages")

    def __init__(self) -> None:
        self.everything = False
        self.links: set[bytes] = set()  # MAC tags
        self.messages: set[str] = set()
        self.hosts: set[str] = set()  # destination hosts, lower case

    def blocks(self, opened: Opened) -> bool:
        if self.everything or opened.raw[-TAG_LEN:] in self.links:
            return True
        if opened.body.message_id in self.messages:
            return True
        return bool(self.hosts) and destination_host(opened) in self.hosts


def destination_host(opened: Opened) -> str:
    """The host a browser goes to, as host revocations store it: lower case, no port, no
    trailing dot. Never raises: it runs on the request path."""
    netloc = opened.netloc
    if not netloc:  # the general form: the whole URL is in the token
        rest = opened.url.partition("://")[2]
        # Browsers end the authority at "\" too (http and https), and drop userinfo.
        netloc = _AUTHORITY_END.split(rest, 1)[0].rpartition("@")[2]
    if netloc.startswith("["):
        return ipv6_literal(netloc[1 : netloc.find("]")]) or netloc
    host = netloc.partition(":")[0]
    return unquote(host).lower().rstrip(".")


def ipv6_literal(address: str) -> str:
    """``[address]`` in the compressed form a browser serialises it to (``[0:0::1]`` is
    ``[::1]``), so every spelling of one address meets one revocation; "" if invalid."""
    try:
        return f"[{ipaddress.IPv6Address(address).compressed}]"
    except ValueError:
        return ""


class EdgeConfig:
    """What the request path looks up: keys by id, key and domain owners, revocations."""

    __slots__ = (
        "certificates",
        "challenges",
        "domains",
        "host_keys",
        "https_only",
        "key_tenants",
        "keys",
        "loaded_at",
        "revision",
        "revoked",
    )

    def __init__(
        self,
        revision: int,
        keys: dict[int, bytes],
        key_tenants: dict[int, int],
        domains: dict[bytes, int],
        revoked: dict[int, TenantRevocations] | None = None,
        challenges: dict[bytes, bytes] | None = None,
        certificates: tuple[config_pb2.TlsCertificate, ...] = (),
        https_only: frozenset[str] = frozenset(),
    ) -> None:
        self.revision = revision
        self.keys = keys
        self.key_tenants = key_tenants
        self.domains = domains  # lower-case host name (bytes, as in the Host header) -> tenant
        self.host_keys = host_keys(keys, key_tenants, domains)
        self.revoked = revoked or {}  # tenant -> its revocations; absent when none
        # b"<host>/<token>" -> ACME HTTP-01 key authorization, only for registered domains
        self.challenges = challenges or {}
        self.certificates = certificates  # for the TLS terminator (edge.certs)
        self.https_only = https_only  # domains the terminator redirects to HTTPS (edge.certs)
        self.loaded_at = time.time()

    @classmethod
    def from_snapshot(cls, snap: config_pb2.ConfigSnapshot) -> EdgeConfig:
        keys: dict[int, bytes] = {}
        key_tenants: dict[int, int] = {}
        for key in snap.keys:
            if len(key.secret) != KEY_LEN or not key.tenant_id:
                raise ConfigError(f"key {key.key_id}: malformed")
            key_tenants[key.key_id] = key.tenant_id
            if key.state in USABLE_KEY_STATES:
                keys[key.key_id] = key.secret
        domains: dict[bytes, int] = {}
        for domain in snap.domains:
            name = domain.name
            if not name or name != name.lower() or ":" in name or not domain.tenant_id:
                raise ConfigError(f"domain {name!r}: malformed")
            domains[name.encode()] = domain.tenant_id
        return cls(
            snap.revision,
            keys,
            key_tenants,
            domains,
            _revocations(snap),
            _challenges(snap, domains),
            tuple(c for c in snap.certificates if c.domain.encode() in domains),
            frozenset(d.name for d in snap.domains if d.https_only),
        )


def host_keys(
    keys: dict[int, bytes], key_tenants: dict[int, int], domains: dict[bytes, int]
) -> dict[bytes, tuple[int, dict[int, bytes]]]:
    """Host -> (its tenant, that tenant's keys by key id).

    One lookup on the request path finds the only keys a token on this host may use,
    so a token under another tenant's key is refused without a MAC computed.
    """
    by_tenant: dict[int, dict[int, bytes]] = {}
    for key_id, key in keys.items():
        if key_id in key_tenants:
            by_tenant.setdefault(key_tenants[key_id], {})[key_id] = key
    return {host: (tenant, by_tenant.get(tenant, {})) for host, tenant in domains.items()}


def _challenges(snap: config_pb2.ConfigSnapshot, domains: dict[bytes, int]) -> dict[bytes, bytes]:
    """Answers keyed b"host/token"; a challenge for a domain we do not serve is dropped."""
    answers: dict[bytes, bytes] = {}
    for entry in snap.challenges:
        host = entry.domain.encode()
        if host in domains and entry.token and "/" not in entry.token:
            answers[host + b"/" + entry.token.encode()] = entry.key_authorization.encode()
    return answers


def _revocations(snap: config_pb2.ConfigSnapshot) -> dict[int, TenantRevocations]:
    revoked: dict[int, TenantRevocations] = {}
    for entry in snap.revocations:
        rv = revoked.setdefault(entry.tenant_id, TenantRevocations())
        if entry.kind == "tenant":
            rv.everything = True
        elif entry.kind == "link":
            try:
                rv.links.add(bytes.fromhex(entry.value))
            except ValueError:
                raise ConfigError(f"revocation of link {entry.value!r}: malformed") from None
        elif entry.kind == "message":
            rv.messages.add(entry.value)
        elif entry.kind == "host":
            rv.hosts.add(entry.value.lower())
        else:
            raise ConfigError(f"revocation kind {entry.kind!r} unknown")
    return revoked


def snapshot_path(data_dir: Path) -> Path:
    return data_dir / "config.snapshot"


def save_snapshot(data_dir: Path, snap: config_pb2.ConfigSnapshot, sealer: Sealer) -> None:
    """Atomically replace the sealed on-disk snapshot."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / "config.snapshot.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(sealer.seal(snap.SerializeToString(), SNAPSHOT_CONTEXT))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(snapshot_path(data_dir))


def load_snapshot(data_dir: Path, sealer: Sealer) -> EdgeConfig | None:
    """The last good snapshot, or None when there is none or it does not open/validate."""
    try:
        data = sealer.open(snapshot_path(data_dir).read_bytes(), SNAPSHOT_CONTEXT)
        return EdgeConfig.from_snapshot(config_pb2.ConfigSnapshot.FromString(data))
    except (OSError, ValueError, SealError):
        return None
