"""The edge's view of the config: an immutable snapshot, validated, persisted on disk.

The snapshot file holds signing keys in clear, readable by the edge's user only
(mode 0600, in the edge's private data directory): an edge must be able to start
and verify links while the control plane is down, and any key that could decrypt
the file would have to sit on the same disk. Keys are never logged.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from clickgate.v1 import config_pb2

from edge.token import KEY_LEN

USABLE_KEY_STATES = frozenset({"verify-only", "active", "retired"})


class ConfigError(ValueError):
    """A snapshot that must not replace the one in use."""


class EdgeConfig:
    """What the request path looks up: keys by id, key and domain owners."""

    __slots__ = ("domains", "key_tenants", "keys", "loaded_at", "revision")

    def __init__(
        self,
        revision: int,
        keys: dict[int, bytes],
        key_tenants: dict[int, int],
        domains: dict[bytes, int],
    ) -> None:
        self.revision = revision
        self.keys = keys
        self.key_tenants = key_tenants
        self.domains = domains  # lower-case host name (bytes, as in the Host header) -> tenant
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
        return cls(snap.revision, keys, key_tenants, domains)


def snapshot_path(data_dir: Path) -> Path:
    return data_dir / "config.snapshot"


def save_snapshot(data_dir: Path, snap: config_pb2.ConfigSnapshot) -> None:
    """Atomically replace the on-disk snapshot (private to the edge's user)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / "config.snapshot.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(snap.SerializeToString())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(snapshot_path(data_dir))


def load_snapshot(data_dir: Path) -> tuple[config_pb2.ConfigSnapshot, EdgeConfig] | None:
    """The last good snapshot, or None when there is none or it does not validate."""
    try:
        data = snapshot_path(data_dir).read_bytes()
        snap = config_pb2.ConfigSnapshot.FromString(data)
        return snap, EdgeConfig.from_snapshot(snap)
    except (OSError, ValueError):
        return None
