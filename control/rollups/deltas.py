"""Signed changes to rollup rows: clicks summed in memory, then grouped and upserted in SQL.

A batch's clicks go into a temporary table, and one INSERT ... SELECT ... GROUP BY ...
ON CONFLICT DO UPDATE spreads them over every dimension's hour and day rows (the same
SQL as control.rollups.rebuild). Rows added one by one (messages sent) are upserted as
they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from control.db.bulk import execute, execute_many, insert_rows
from control.rollups.facts import DAY_MS, HOUR_MS, SEP, UNLABELLED, Fact, rollup_key
from control.rollups.grouped import COLUMNS, grouped, separator, variants

RowKey = tuple[int, str, str, int, str, bool]  # the primary key of click_rollups
# Positional and straight to the driver (control.db.bulk): SQLAlchemy's per-row parameter
# processing cost more than the upserts themselves.
_UPSERT = (
    "INSERT INTO click_rollups (tenant_id, dimension, span, bucket, key, is_bot, stream, "
    'domain, tags, value, total, "unique", messages) VALUES ({marks}) '
    "ON CONFLICT (tenant_id, dimension, span, bucket, key, is_bot) DO UPDATE SET "
    "total = click_rollups.total + excluded.total, "
    '"unique" = click_rollups."unique" + excluded."unique", '
    "messages = click_rollups.messages + excluded.messages"
)
_DELTA_COLUMNS = (
    *("tenant_id", "hour", "is_bot", "stream", "domain", "tags", '"all"', "browser"),
    *("platform", "os", "email_client", "country", "city", "link", "location"),
    *("total", "uniq", "msg"),
)
_DELTA_TABLE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS rollup_deltas (tenant_id BIGINT, hour BIGINT, "
    'is_bot BOOLEAN, stream TEXT, domain TEXT, tags TEXT, "all" TEXT, browser TEXT, '
    "platform TEXT, os TEXT, email_client TEXT, country TEXT, city TEXT, link TEXT, "
    "location TEXT, total BIGINT, uniq BIGINT, msg BIGINT)"
)


def _grouped_upsert(pg: bool) -> str:
    """Every dimension's hour and day rows from rollup_deltas, added to the stored rows.

    Rows come in primary key order, so concurrent ingests lock rows in one order; groups
    whose counts cancel out are left alone. (SQLite needs a WHERE before ON CONFLICT.)
    """
    sep = separator(pg)
    selects = [
        grouped("rollup_deltas", dimension, span, sep, "sum(total)", labelled)
        + " HAVING sum(total) <> 0 OR sum(uniq) <> 0 OR sum(msg) <> 0"
        for dimension, labelled, span in variants()
    ]
    return (
        f"INSERT INTO click_rollups ({COLUMNS}) SELECT * FROM ("
        + " UNION ALL ".join(selects)
        + ") AS grouped WHERE true ORDER BY 1, 2, 3, 4, 5, 6"
        + _UPSERT[_UPSERT.index(" ON CONFLICT") :]
    )


_GROUPED_UPSERT = {pg: _grouped_upsert(pg) for pg in (False, True)}
_UPSERT_ROW = _UPSERT.format(marks=", ".join("?" * 13))


class Deltas:
    """Accumulates +/- counts per rollup row; flush() writes them in primary key order."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, list[Any]] = {}
        # Clicks alike in everything a rollup row sees (same hour, same values) summed
        # first: one temporary row for them all.
        self._alike: dict[tuple[Any, ...], list[Any]] = {}

    def click(self, fact: Fact, sign: int, unique: bool = False, first_msg: bool = False) -> None:
        """Count (sign=1) or uncount (sign=-1) a click in its hour and its UTC day."""
        self._gather(fact, sign, sign * unique, sign * first_msg)

    def flags(self, fact: Fact, unique: int, first_of_message: int) -> None:
        """Move only the unique or message counts of a click (a first click changed)."""
        self._gather(fact, 0, unique, first_of_message)

    def _gather(self, fact: Fact, total: int, unique: int, messages: int) -> None:
        # Everything Fact.values() and add() read, with the time cut to its hour (the hour
        # fixes the day too); click id, message and link index are not in any row.
        kind = (fact.tenant_id, fact.time_ms // HOUR_MS, fact.is_bot, *fact[5:9], *fact[10:])
        found = self._alike.get(kind)
        if found is None:
            self._alike[kind] = [fact, total, unique, messages]
        else:
            found[1] += total
            found[2] += unique
            found[3] += messages

    def add(
        self,
        tenant_id: int,
        dimension: str,
        time_ms: int,
        is_bot: bool,
        labels: tuple[str, str, str, str],
        counts: tuple[int, int, int],
    ) -> None:
        bare = ("", "", "", labels[3])
        for name, tagged in ((dimension, labels), (dimension + UNLABELLED, bare)):
            key = rollup_key(*tagged)
            for span, size in (("h", HOUR_MS), ("d", DAY_MS)):
                row_key = (tenant_id, name, span, time_ms - time_ms % size, key, is_bot)
                row = self.rows.get(row_key)
                if row is None:
                    self.rows[row_key] = [*tagged, *counts]
                else:
                    row[4] += counts[0]
                    row[5] += counts[1]
                    row[6] += counts[2]

    def flush(self, session: Session) -> None:
        """Write every change: the clicks' through SQL, rows added one by one directly."""
        if self._alike:
            self._flush_clicks(session)
        params = [(*k, *v) for k, v in sorted(self.rows.items()) if v[4] or v[5] or v[6]]
        self.rows.clear()
        execute_many(session, _UPSERT_ROW, params)

    def _flush_clicks(self, session: Session) -> None:
        """The gathered clicks into a temporary table, then one grouped upsert from it."""
        pg = session.get_bind().dialect.name == "postgresql"
        facts = [_delta_row(*gathered) for gathered in self._alike.values()]
        self._alike.clear()
        execute(session, _DELTA_TABLE + (" ON COMMIT DELETE ROWS" if pg else ""))
        insert_rows(session, "rollup_deltas", _DELTA_COLUMNS, facts)
        execute(session, _GROUPED_UPSERT[pg])
        execute(session, "DELETE FROM rollup_deltas")  # the transaction may go on; keep it clean


def _delta_row(f: Fact, total: int, unique: int, messages: int) -> tuple[Any, ...]:
    """A rollup_deltas row, in _DELTA_COLUMNS order."""
    return (
        f.tenant_id, f.time_ms - f.time_ms % HOUR_MS, f.is_bot, f.stream, f.host, f.tags, "",
        f.browser, f.platform, f.os, f.email_client, f.country,
        SEP.join((f.country, f.region, f.city)), f.url, f.location, total, unique, messages,
    )  # fmt: skip
