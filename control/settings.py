"""Control-plane settings: CLICKGATE_* environment variables (see README, configuration)."""

from __future__ import annotations

import ipaddress
import os
import re

import msgspec

from control.fields import check_tenant_name
from edge.envconfig import check_ip, invalid, load
from edge.sealing import Sealer, parse_key

PREFIX = "CLICKGATE_"
BOOTSTRAP_KEY = re.compile(r"cg_[0-9a-f]{12}_[A-Za-z0-9_-]{16,200}")


class ControlSettings(msgspec.Struct, kw_only=True, frozen=True):
    database_url: str = "sqlite:///var/clickgate.db"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    control_token: str = ""  # shared secret edges present on gRPC; empty: no check (loopback dev)
    click_scheme: str = "https"  # scheme of tracked URLs
    click_port: int = 0  # port in tracked URLs; 0 for the scheme's default
    data_dir: str = "var"
    master_key: str  # base64 of 32 random bytes; seals signing keys at rest (required)
    geoip_db: str = ""  # MaxMind-format country/city database; empty: unknown geography
    asn_db: str = ""  # MaxMind-format ASN database (optional)
    scanner_cidrs: list[str] = []  # mail-scanner networks, on top of the built-in seed list
    # Customer click domains (see control.domains, control.acme).
    cname_target: str = ""  # host name customers CNAME to; empty: custom domains are off
    dns_resolver: str = ""  # ip[:port] of the resolver for CNAME/CAA checks; empty: system
    dns_recheck_seconds: float = 60.0  # first recheck of a pending/failed domain; doubles to 1 h
    acme_directory: str = ""  # ACME directory URL; empty: no certificates are ordered
    acme_ca_bundle: str = ""  # PEM file trusted for the ACME server; empty: system roots
    acme_contact: str = ""  # e-mail address given to the CA
    acme_caa_identities: list[str] = msgspec.field(default_factory=lambda: ["letsencrypt.org"])
    acme_retry_seconds: float = 60.0  # first retry after a failed order; doubles to 6 h
    acme_max_failed_validations: int = 5  # per domain per hour
    webhook_allow_private: bool = False  # deliver webhooks to loopback/private hosts (tests)
    # The first tenant and its API key, put in place by `clickgate migrate` when set (the
    # Kubernetes migration Job reads them from a Secret); running it again changes nothing.
    bootstrap_tenant: str = ""
    bootstrap_api_key: str = ""  # cg_<12 hex>_<secret of 16+ URL-safe characters>
    bootstrap_domain: str = ""  # optional: the tenant's default click domain
    webhook_timeout_seconds: float = 5.0  # connect and each read of one delivery
    webhook_retry_base_seconds: float = 10.0  # first retry; then x4 per attempt, 12 h at most
    webhook_concurrency_per_endpoint: int = 2  # requests in flight to one endpoint
    webhook_concurrency: int = 32  # requests in flight over all endpoints (threads)
    webhook_poll_seconds: float = 1.0  # how often an idle dispatcher looks for due rows

    def __post_init__(self) -> None:
        for field in ("api_port", "grpc_port", "click_port"):
            port = getattr(self, field)
            if not 0 <= port <= 65535:
                raise invalid(field, f"port must be 0-65535, got {port}")
        check_ip("api_host", self.api_host)
        check_ip("grpc_host", self.grpc_host)
        if self.click_scheme not in ("http", "https"):
            raise invalid("click_scheme", "must be http or https")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise invalid("database_url", "must be a sqlite:// or postgresql:// URL")
        for field in ("geoip_db", "asn_db"):
            path = getattr(self, field)
            if path and not os.path.isfile(path):
                raise invalid(field, f"no such file: {path}")
            if path:
                _check_maxmind(field, path)
        for cidr in self.scanner_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise invalid("scanner_cidrs", f"not a CIDR: {cidr!r}") from None
        self._check_domains()
        self._check_bootstrap()
        try:
            parse_key(self.master_key)
        except ValueError as exc:
            raise invalid("master_key", f"{exc} (use 32 random bytes, base64)") from None

    def _check_domains(self) -> None:
        if self.acme_ca_bundle and not os.path.isfile(self.acme_ca_bundle):
            raise invalid("acme_ca_bundle", f"no such file: {self.acme_ca_bundle}")
        if self.acme_directory and not self.acme_directory.startswith(("https://", "http://")):
            raise invalid("acme_directory", "must be an https:// (or http:// for tests) URL")
        if self.dns_resolver:
            try:
                parse_resolver(self.dns_resolver)
            except ValueError as exc:
                raise invalid("dns_resolver", str(exc)) from None
        for field in (
            "dns_recheck_seconds",
            "acme_retry_seconds",
            "webhook_timeout_seconds",
            "webhook_retry_base_seconds",
            "webhook_poll_seconds",
        ):
            if getattr(self, field) <= 0:
                raise invalid(field, "must be positive")
        for field in (
            "acme_max_failed_validations",
            "webhook_concurrency_per_endpoint",
            "webhook_concurrency",
        ):
            if getattr(self, field) < 1:
                raise invalid(field, "must be at least 1")

    def _check_bootstrap(self) -> None:
        if not self.bootstrap_api_key:
            return
        if not BOOTSTRAP_KEY.fullmatch(self.bootstrap_api_key):
            raise invalid(
                "bootstrap_api_key", "expected cg_<12 hex digits>_<16+ of A-Z a-z 0-9 - _>"
            )
        if not self.bootstrap_tenant.strip():
            raise invalid("bootstrap_tenant", "required with CLICKGATE_BOOTSTRAP_API_KEY")
        try:
            check_tenant_name(self.bootstrap_tenant)
        except ValueError as exc:
            raise invalid("bootstrap_tenant", str(exc)) from None

    @property
    def sealer(self) -> Sealer:
        return Sealer(parse_key(self.master_key))

    def click_base(self, domain: str) -> str:
        port = f":{self.click_port}" if self.click_port else ""
        return f"{self.click_scheme}://{domain}{port}"


def _check_maxmind(field: str, path: str) -> None:
    """A database that opens now, rather than a traceback when the ingester starts."""
    from control.enrich.geo import GeoDatabaseError, open_reader

    try:
        reader = open_reader(path)
    except GeoDatabaseError as exc:
        raise invalid(field, str(exc)) from None
    if reader is not None:
        reader.close()


def parse_resolver(text: str) -> tuple[str, int]:
    """'ip', 'ip:port' or '[ipv6]:port' -> (ip, port); ValueError otherwise."""
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    ipaddress.ip_address(host)  # raises ValueError
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in {text!r}")
    return host, int(port)


def load_control_settings(environ: dict[str, str] | None = None) -> ControlSettings:
    return load(ControlSettings, PREFIX, environ)
