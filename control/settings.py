"""Control-plane settings: CLICKGATE_* environment variables (see README, configuration)."""

from __future__ import annotations

import ipaddress
import os

import msgspec

from edge.envconfig import invalid, load
from edge.sealing import Sealer, parse_key

PREFIX = "CLICKGATE_"


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
    scanner_cidrs: list[str] = []  # mail-scanner networks; empty: the built-in seed list

    def __post_init__(self) -> None:
        for field in ("api_port", "grpc_port", "click_port"):
            port = getattr(self, field)
            if not 0 <= port <= 65535:
                raise invalid(field, f"port must be 0-65535, got {port}")
        if self.click_scheme not in ("http", "https"):
            raise invalid("click_scheme", "must be http or https")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise invalid("database_url", "must be a sqlite:// or postgresql:// URL")
        for field in ("geoip_db", "asn_db"):
            path = getattr(self, field)
            if path and not os.path.isfile(path):
                raise invalid(field, f"no such file: {path}")
        for cidr in self.scanner_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise invalid("scanner_cidrs", f"not a CIDR: {cidr!r}") from None
        try:
            parse_key(self.master_key)
        except ValueError as exc:
            raise invalid("master_key", f"{exc} (use 32 random bytes, base64)") from None

    @property
    def sealer(self) -> Sealer:
        return Sealer(parse_key(self.master_key))

    def click_base(self, domain: str) -> str:
        port = f":{self.click_port}" if self.click_port else ""
        return f"{self.click_scheme}://{domain}{port}"


def load_control_settings(environ: dict[str, str] | None = None) -> ControlSettings:
    return load(ControlSettings, PREFIX, environ)
