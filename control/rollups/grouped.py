"""SQL that groups click facts into rollup rows: shared by ingest and the rebuild.

A facts table holds one row per click (rebuild: ``rollup_facts``) or per group of alike
clicks with signed counts (ingest: ``rollup_deltas``), with the columns the rollups read:
tenant_id, hour, is_bot, stream, domain, tags, "all" (always ''), the dimension columns
(see facts.DIMENSIONS), uniq and msg. The database does the grouping in C; spreading each
click over its ~36 rows in Python was most of the cost of ingest.
"""

from __future__ import annotations

from control.rollups.facts import DAY_MS, DIMENSIONS, UNLABELLED

COLUMNS = (
    "tenant_id, dimension, span, bucket, key, is_bot, stream, domain, tags, value, total, "
    '"unique", messages'
)


def variants() -> list[tuple[str, bool, str]]:
    """(dimension, labelled, span) of every rollup row a click is counted in.

    Labelled rows (per stream, domain and tag list) of the dimensions other than 'all'
    are kept per UTC day only: they serve filtered breakdowns, and hour rows of them were
    most of the rows ingest wrote (nearly one per click and dimension at a few hundred
    clicks per tenant and hour). A filtered breakdown over a range that is not whole UTC
    days is counted from raw clicks (control.stats.answer).
    """
    return [
        (dimension, labelled, span)
        for dimension in ("all", *DIMENSIONS)
        for labelled in (True, False)
        for span in ("h", "d")
        if dimension == "all" or not labelled or span == "d"
    ]


def separator(pg: bool) -> str:
    """facts.SEP as an SQL expression."""
    return "chr(31)" if pg else "char(31)"


def grouped(
    source: str, dimension: str, span: str, sep: str, total: str, labelled: bool = True
) -> str:
    """SELECT of click_rollups rows (COLUMNS order) of one dimension and span ('h' or 'd').

    The key is the md5 that facts.rollup_key computes in Python for the same labels.
    """
    value = f'"{dimension}"'
    labels = "stream, domain, tags" if labelled else "'', '', ''"
    hashed = f"stream || {sep} || domain || {sep} || tags" if labelled else f"{sep} || {sep}"
    group = ", stream, domain, tags" if labelled else ""
    name = dimension if labelled else dimension + UNLABELLED
    bucket = "hour" if span == "h" else f"hour - hour % {DAY_MS}"
    return (
        f"SELECT tenant_id, '{name}', '{span}', {bucket}, md5({hashed} || {sep} || {value}), "
        f"is_bot, {labels}, {value}, {total}, sum(uniq), sum(msg) FROM {source} "
        f"GROUP BY tenant_id, {bucket}, is_bot{group}, {value}"
    )
