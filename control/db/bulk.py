"""Many rows straight to the database driver, on the session's connection and transaction.

SQLAlchemy's per-row parameter processing costs more than the inserts themselves on the
ingest path (an ORM bulk insert of 2,000 rows took longer than the database's work).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


def execute_many(session: Session, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run `sql` once per row. Placeholders are written `?` and become `%s` on PostgreSQL
    (so `?` must not appear in the SQL otherwise)."""
    if rows:
        _run(session, sql, lambda cursor, sql: cursor.executemany(sql, rows))


def insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Plain inserts: COPY on PostgreSQL, an executemany on SQLite."""
    if not rows:
        return
    names = ", ".join(columns)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        marks = ", ".join("?" * len(columns))
        execute_many(session, f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def any_of(session: Session, column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    """`column` equal to any of values: SQL text and its parameters (one array on
    PostgreSQL, which plans that far faster than a long IN list)."""
    if session.get_bind().dialect.name == "postgresql":
        return f"{column} = ANY(?)", [list(values)]
    listed = list(values)
    return f"{column} IN ({', '.join('?' * len(listed))})", listed


def execute(session: Session, sql: str, params: Sequence[Any] = ()) -> None:
    """One statement (placeholders as in execute_many). Without params the SQL is sent as
    it is: a `%` (modulo) in it then needs no escaping on PostgreSQL."""
    _run(
        session,
        sql,
        lambda cursor, sql: cursor.execute(sql, params) if params else cursor.execute(sql),
    )


def fetch_all(session: Session, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of one query, as the driver returns them (placeholders as in execute_many)."""
    return _run(session, sql, lambda cursor, sql: list(cursor.execute(sql, params).fetchall()))


def _run(session: Session, sql: str, work: Callable[[Any, str], T]) -> T:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return work(cursor, sql)
    finally:
        cursor.close()
