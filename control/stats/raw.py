"""Raw clicks in (time_ms, id) order: cursor pages and streamed NDJSON or CSV exports."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import msgspec
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from control.db.models import Click
from control.stats.filters import ClickFilter, conditions, dialect_of
from control.stats.params import ParamError

EXPORT_BATCH = 1000
cursor_encoder = msgspec.json.Encoder()
# Positions within 64 bits: anything else names no row, and the database would refuse it.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
cursor_decoder = msgspec.json.Decoder(tuple[int, _Int64, _Int64])
CURSOR_VERSION = 1
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # cells a spreadsheet would evaluate


def encode_cursor(row: Click) -> str:
    """Opaque to clients; the position after `row` in (time_ms, id) order."""
    raw = cursor_encoder.encode((CURSOR_VERSION, row.time_ms, row.id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        version, time_ms, row_id = cursor_decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ParamError("cursor", "not a cursor this API handed out") from None
    if version != CURSOR_VERSION:
        raise ParamError("cursor", "not a cursor this API handed out")
    return time_ms, row_id


def page(
    session: Session, f: ClickFilter, after: tuple[int, int] | None, limit: int, **where: Any
) -> tuple[Sequence[Click], str | None]:
    """Up to `limit` clicks after the cursor, and the next cursor (None on the last page)."""
    query = select(Click).where(*conditions(f, dialect_of(session)))
    for name, value in where.items():
        query = query.where(getattr(Click, name) == value)
    if after is not None:
        query = query.where(tuple_(Click.time_ms, Click.id) > tuple_(*after))
    rows = session.scalars(query.order_by(Click.time_ms, Click.id).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(rows[limit - 1])


def batches(sessions: sessionmaker[Session], f: ClickFilter) -> Iterator[Sequence[Click]]:
    """Every matching click, one short transaction per batch so exports never hold the DB."""
    after: tuple[int, int] | None = None
    while True:
        with sessions() as session:
            rows, _ = page(session, f, after, EXPORT_BATCH)
        if not rows:
            return
        yield rows
        if len(rows) < EXPORT_BATCH:
            return
        after = (rows[-1].time_ms, rows[-1].id)


def export_ndjson(
    sessions: sessionmaker[Session], f: ClickFilter, to_out: Callable[[Click], Any]
) -> Iterator[bytes]:
    encoder = msgspec.json.Encoder()
    for rows in batches(sessions, f):
        buffer = bytearray()
        for row in rows:
            encoder.encode_into(to_out(row), buffer, -1)
            buffer += b"\n"
        yield bytes(buffer)


def export_csv(
    sessions: sessionmaker[Session],
    f: ClickFilter,
    to_flat: Callable[[Click], dict[str, Any]],
    header: list[str],
) -> Iterator[bytes]:
    """CSV with a header; lists as JSON text; formula-like text cells get a leading quote."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for rows in batches(sessions, f):
        for row in rows:
            flat = to_flat(row)
            writer.writerow([cell(flat[name]) for name in header])
        yield take(out)
    if out.tell():
        yield take(out)


def cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return msgspec.json.encode(value).decode()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def take(out: io.StringIO) -> bytes:
    data = out.getvalue().encode()
    out.seek(0)
    out.truncate()
    return data
