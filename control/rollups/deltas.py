"""Signed changes to rollup rows, summed in memory, then upserted in one executemany."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from control.rollups.facts import DAY_MS, HOUR_MS, UNLABELLED, Fact, rollup_key

RowKey = tuple[int, str, str, int, str, bool]  # the primary key of click_rollups
# Positional and straight to the driver: SQLAlchemy's per-row parameter processing cost
# more than the upserts themselves (~18 rows per click before merging).
_UPSERT = (
    "INSERT INTO click_rollups (tenant_id, dimension, span, bucket, key, is_bot, stream, "
    'domain, tags, value, total, "unique", messages) VALUES ({marks}) '
    "ON CONFLICT (tenant_id, dimension, span, bucket, key, is_bot) DO UPDATE SET "
    "total = click_rollups.total + excluded.total, "
    '"unique" = click_rollups."unique" + excluded."unique", '
    "messages = click_rollups.messages + excluded.messages"
)
_SQL = {
    "postgresql": _UPSERT.format(marks=", ".join(["%s"] * 13)),
    "sqlite": _UPSERT.format(marks=", ".join(["?"] * 13)),
}


class Deltas:
    """Accumulates +/- counts per rollup row; flush() writes them in primary key order."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, list[Any]] = {}
        # Clicks alike in everything a rollup row sees (same hour, same values) summed
        # first and spread over their ~36 rows once: a batch holds few distinct kinds, and
        # spreading every click on its own was most of the cost of ingest.
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

    def _spread(self) -> None:
        for fact, total, unique, messages in self._alike.values():
            for dimension, value in fact.values():
                self.add(
                    fact.tenant_id, dimension, fact.time_ms, fact.is_bot,
                    (fact.stream, fact.host, fact.tags, value), (total, unique, messages),
                )  # fmt: skip
        self._alike.clear()

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

    def flush(self, session: Session) -> int:
        """Upsert every changed row; sorted so concurrent ingests lock rows in one order."""
        self._spread()
        params = [(*k, *v) for k, v in sorted(self.rows.items()) if v[4] or v[5] or v[6]]
        self.rows.clear()
        if params:
            connection = session.connection()
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(_SQL[connection.dialect.name], params)
            finally:
                cursor.close()
        return len(params)
