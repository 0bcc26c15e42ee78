"""Parse and check request parameters: dates, time zones, ranges; errors name the parameter."""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DEFAULT_DAYS = 30
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3339 date-time (T, t or a space between; Z, z or +hh:mm), seconds optional. Python's
# fromisoformat alone also took ISO 8601's other forms (20270101, 2027-W01-1, +0100).
DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


class ParamError(ValueError):
    """A bad request parameter; the API turns it into a 400."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@functools.cache
def _iana_names() -> frozenset[str]:
    """The zone names tzdata lists. ZoneInfo alone also opens any file under the zone
    directory: `right/...` (which counts leap seconds, so buckets start 27 s off),
    `posix/...` copies, and this machine's `localtime`. "Factory" is no place either."""
    return frozenset(zoneinfo.available_timezones() - {"Factory", "localtime", "posixrules"})


def parse_tz(value: str | None) -> ZoneInfo:
    if value == "":  # `tz=` from a template that meant to fill it in
        raise ParamError("tz", "empty; leave it out for UTC")
    name = value or "UTC"
    if name in _iana_names():  # IANA names only, never a path
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # listed, then gone or unreadable
    raise ParamError("tz", f"unknown time zone {name!r}; use an IANA name")


def parse_instant(name: str, value: str, tz: ZoneInfo, end: bool) -> int:
    """RFC 3339 (with Z or an offset) or YYYY-MM-DD in `tz`; an end date includes that day."""
    try:
        return _instant(name, value, tz, end)
    except OverflowError:
        raise ParamError(name, f"{value!r} is out of range") from None


def _instant(name: str, value: str, tz: ZoneInfo, end: bool) -> int:
    if not value:
        raise ParamError(name, "empty; leave it out for the default")
    if DATE_ONLY.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise ParamError(name, f"{value!r} is not a valid date") from None
        if end:
            day += dt.timedelta(days=1)
        return to_ms(dt.datetime.combine(day, dt.time(0), tzinfo=tz))
    if DATE_TIME.fullmatch(value):
        try:
            return to_ms(dt.datetime.fromisoformat(value.upper()))
        except ValueError:  # 2027-02-30, 25:00, a leap second
            raise ParamError(name, f"{value!r} is not a valid date and time") from None
    if DATE_TIME.fullmatch(value + "Z"):
        raise ParamError(name, f"{value!r} needs a time zone offset or Z")
    raise ParamError(name, f"{value!r} is neither RFC 3339 nor YYYY-MM-DD")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def to_ms(stamp: dt.datetime) -> int:
    # Integer arithmetic: timestamp() * 1000 in floats lands 1 ms early for some instants
    # (2038-11-21T09:51:51.944Z gave ...943), moving a range's edge past a click.
    return (stamp - _EPOCH) // _MS


def parse_range(start: str | None, stop: str | None, tz: ZoneInfo, now_ms: int) -> tuple[int, int]:
    """[from, to) in ms; defaults to the 30 days up to the end of the current hour (whole
    hours, so the rollups answer it)."""
    to_value = (
        parse_instant("to", stop, tz, end=True)
        if stop is not None
        else now_ms // HOUR_MS * HOUR_MS + HOUR_MS
    )
    if to_value <= 0:
        raise ParamError("to", "must be after 1970-01-01T00:00Z")
    if start is not None:
        from_value = parse_instant("from", start, tz, end=False)
        if from_value < 0:
            raise ParamError("from", "must not be before 1970")
    else:  # the default range is cut at 1970 rather than blamed on a `from` not given
        from_value = max(0, to_value - DEFAULT_DAYS * DAY_MS)
    if from_value >= to_value:
        raise ParamError("from", "must be before to")
    if to_value > LATEST_MS:  # local days and hours past it cannot be counted in Python
        raise ParamError("to", "must be before 9999-01-01")
    return from_value, to_value


# 9999-01-01T00:00Z: a day bucket in any zone (up to UTC+14) still ends before year 10000.
LATEST_MS = 253370764800000
