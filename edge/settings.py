"""Edge settings: CLICKGATE_EDGE_* environment variables (see README, configuration)."""

from __future__ import annotations

import ipaddress
import socket
import tempfile
from pathlib import Path

import msgspec

from edge.envconfig import SettingsError, check_ip, env_name, invalid, load
from edge.sealing import parse_key

PREFIX = "CLICKGATE_EDGE_"
# The control plane refuses a larger batch whole (control.rpc.MAX_BATCH), and the edge
# would set every click of it aside.
MAX_SHIP_BATCH = 10_000


def _check_port(field: str, port: int) -> None:
    if not 0 <= port <= 65535:
        raise invalid(field, f"port must be 0-65535, got {port}")


class EdgeSettings(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    metrics_port: int = 9102
    workers: int = 1
    control_grpc: str = "127.0.0.1:50051"
    control_token: str = ""  # shared secret sent to the control plane's gRPC endpoints
    edge_id: str = ""  # defaults to the host name
    data_dir: str = "var/edge"
    trusted_proxies: list[str] = []  # CIDRs whose X-Forwarded-For is believed
    # Longest request path looked at: a token to the longest destination the minter takes
    # (16 KB), with the longest message id, tags and recipient the API takes, all in 4-byte
    # UTF-8 characters, is ~37 KB (~26 KB in ASCII).
    max_path: int = 65536
    journal_segment_bytes: int = 8 << 20
    journal_max_bytes: int = 1 << 30
    journal_max_age: float = 7 * 86400.0  # seconds an unshipped click is kept
    journal_fsync_interval: float = 1.0
    rejected_max_bytes: int = 64 << 20  # clicks the control plane refused (edge.rejected)
    journal: bool = True  # off only for the benchmark that prices durability
    ship_batch: int = 2000
    ship_interval: float = 0.2
    ship_deadline: float = 10.0
    # Longest wait between retries to an unreachable control plane, for shipping and the
    # config stream alike: how late revocations can be once it is back.
    ship_max_backoff: float = 5.0
    # The agent (shipping, config stream) yields the CPU to the request path: under
    # saturation the journal absorbs the backlog, and it drains once load eases.
    agent_nice: int = 10
    grace: float = 10.0  # seconds SIGTERM may take: drain requests, flush, ship
    snapshot_key: str = ""  # base64 32 bytes: seals signing keys in the on-disk snapshot
    cert_dir: str = ""  # where click domains' certificates are written for the TLS terminator
    haproxy_socket: str = ""  # HAProxy runtime API (unix socket path): load certs, no reload

    def __post_init__(self) -> None:
        for field in ("port", "metrics_port"):
            _check_port(field, getattr(self, field))
        check_ip("host", self.host)
        if self.workers < 1:
            raise invalid("workers", "must be at least 1")
        if not 1 <= self.ship_batch <= MAX_SHIP_BATCH:
            raise invalid("ship_batch", f"must be 1-{MAX_SHIP_BATCH}, got {self.ship_batch}")
        host, sep, port = self.control_grpc.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise invalid("control_grpc", f"expected host:port, got {self.control_grpc!r}")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise invalid("trusted_proxies", f"not a CIDR: {cidr!r}") from None
        if self.max_path < 256:
            raise invalid("max_path", "must be at least 256")
        for field in (
            "journal_fsync_interval",
            "ship_interval",
            "ship_deadline",
            "ship_max_backoff",
            "grace",
        ):
            if getattr(self, field) <= 0:
                raise invalid(field, "must be positive")
        if self.snapshot_key:
            try:
                parse_key(self.snapshot_key)
            except ValueError as exc:
                raise invalid("snapshot_key", f"{exc} (use 32 random bytes, base64)") from None
        if not 0 <= self.agent_nice <= 19:
            raise invalid("agent_nice", f"must be 0-19, got {self.agent_nice}")
        if self.rejected_max_bytes < 0:
            raise invalid("rejected_max_bytes", "must be 0 or more (0 keeps none)")
        if self.journal_segment_bytes < 4096 or self.journal_max_bytes < self.journal_segment_bytes:
            raise invalid("journal_max_bytes", "must be at least one segment (4 KiB or more)")

    @property
    def node_id(self) -> str:
        return self.edge_id or socket.gethostname()


def load_edge_settings(environ: dict[str, str] | None = None) -> EdgeSettings:
    return load(EdgeSettings, PREFIX, environ)


def prepare_data_dir(settings: EdgeSettings) -> None:
    """Create the data directory and its journal and prove both writable before anything
    starts: otherwise the agent dies on its first stats file and each worker on its journal
    slot, with tracebacks, and the edge serves nothing."""
    data_dir = Path(settings.data_dir)
    try:
        for directory in (data_dir, data_dir / "journal"):
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                pass
    except OSError as exc:
        name = env_name(PREFIX, "data_dir")
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"{name}: cannot write {str(data_dir)!r}: {reason}") from None
