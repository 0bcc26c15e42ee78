"""Settings from CLICKGATE_* environment variables, validated before any server starts."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(Exception):
    """A setting that is missing or malformed; the message names the variable."""


def env_name(prefix: str, field: str) -> str:
    return f"{prefix}{field.upper()}"


def load(cls: type[S], prefix: str, environ: Mapping[str, str] | None = None) -> S:
    """Build cls from environment variables named prefix + FIELD; lists are comma-separated."""
    env = os.environ if environ is None else environ
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    raw: dict[str, Any] = {}
    for field in info.fields:
        name = env_name(prefix, field.name)
        if name not in env:
            continue
        value: Any = env[name]
        if isinstance(field.type, msgspec.inspect.ListType | msgspec.inspect.TupleType):
            value = [item.strip() for item in value.split(",") if item.strip()]
        elif isinstance(field.type, msgspec.inspect.FloatType) and not _finite(value):
            # "inf" and "nan" would pass every "must be positive" check, then sleep
            # forever or fail deep inside a server.
            raise SettingsError(f"{name}: must be a finite number, got {value!r}")
        raw[field.name] = value
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(exc, prefix, {f.name for f in info.fields})) from None


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return True  # not a number at all: msgspec names the variable and the type


def check_ip(field: str, address: str) -> None:
    """A listening address: the servers bind IP addresses, not host names."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        message = f"must be an IP address (such as 0.0.0.0 or ::), got {address!r}"
        raise invalid(field, message) from None


def invalid(field: str, message: str) -> ValueError:
    """An error for __post_init__ checks; load() turns it into the variable's name."""
    return ValueError(f"{field}: {message}")


def _explain(exc: msgspec.ValidationError, prefix: str, fields: set[str]) -> str:
    """Turn msgspec's `... - at `$.port`` into a message that names the variable."""
    message = str(exc)
    field, sep, text = message.partition(": ")
    if sep and field in fields:
        return f"{env_name(prefix, field)}: {text}"
    if " - at `$." in message:
        text, _, where = message.partition(" - at `$.")
        field = where.rstrip("`").split("[")[0].split(".")[0]
        return f"{env_name(prefix, field)}: {text}"
    if "Object missing required field" in message:
        field = message.rsplit("`", 2)[-2]
        return f"{env_name(prefix, field)}: required but not set"
    return message
