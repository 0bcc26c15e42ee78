"""Rebuild first clicks and rollups from the raw clicks and messages, in SQL.

For loading history in bulk (the statistics benchmark) and for repair; ingest keeps
both current incrementally. Produces exactly the rows ingest would (same md5 keys, same
labels), given clicks whose tags text is what ingest stores (msgspec's JSON).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from control.rollups.facts import DAY_MS, HOUR_MS, UNLABELLED
from control.rollups.grouped import COLUMNS, grouped, separator, variants


def rebuild(session: Session) -> None:
    """Replace every first click and rollup row (one transaction: the caller's)."""
    pg = session.get_bind().dialect.name == "postgresql"
    sep = separator(pg)
    tags = "c.tags::text" if pg else "c.tags"
    link = f"md5(location || {sep} || CAST(link_index AS TEXT) || {sep} || url)"
    run = session.execute
    run(text("DELETE FROM first_clicks"))
    run(text("DELETE FROM click_rollups"))
    for partition, key, where in (
        ("tenant_id, message_id, location, link_index, url", link, ""),
        ("tenant_id, message_id", "''", "AND message_id <> ''"),
    ):
        run(
            text(
                "INSERT INTO first_clicks (tenant_id, message_id, link, click_id, time_ms) "
                f"SELECT tenant_id, message_id, {key}, click_id, time_ms FROM (SELECT c.*, "
                f"row_number() OVER (PARTITION BY {partition} ORDER BY time_ms, click_id) AS rn "
                f"FROM clicks c WHERE NOT c.is_bot {where}) t WHERE rn = 1"
            )
        )
    run(text("DROP TABLE IF EXISTS rollup_facts"))
    run(
        text(
            "CREATE TEMPORARY TABLE rollup_facts AS SELECT c.tenant_id, "
            f"c.time_ms - c.time_ms % {HOUR_MS} AS hour, c.is_bot, "
            f"c.stream, c.host AS domain, {tags} AS tags, '' AS \"all\", "
            "c.browser, c.platform, c.os, c.email_client, c.country, "
            f"c.country || {sep} || c.region || {sep} || c.city AS city, c.url AS link, "
            "c.location, CASE WHEN fl.click_id IS NULL THEN 0 ELSE 1 END AS uniq, "
            "CASE WHEN fm.click_id IS NULL THEN 0 ELSE 1 END AS msg FROM clicks c "
            "LEFT JOIN first_clicks fl ON fl.click_id = c.click_id AND fl.link <> '' "
            "LEFT JOIN first_clicks fm ON fm.click_id = c.click_id AND fm.link = ''"
        )
    )
    for dimension, labelled, span in variants():
        select = grouped("rollup_facts", dimension, span, sep, "count(*)", labelled)
        run(text(f"INSERT INTO click_rollups ({COLUMNS}) {select}"))
    roll_sent(session, sep, pg)
    run(text("DROP TABLE rollup_facts"))


def roll_sent(session: Session, sep: str, pg: bool) -> None:
    """Messages recorded, per hour and per UTC day, as record_message counts them."""
    tags = "tags::text" if pg else "tags"
    for span, size in (("h", HOUR_MS), ("d", DAY_MS)):
        bucket = f"created_ms - created_ms % {size}"
        session.execute(
            text(
                f"INSERT INTO click_rollups ({COLUMNS}) SELECT tenant_id, 'sent', '{span}', "
                f"{bucket}, md5(stream || {sep} || domain || {sep} || {tags} || {sep} || ''), "
                f"false, stream, domain, {tags}, '', count(*), 0, 0 FROM messages "
                f"GROUP BY tenant_id, {bucket}, stream, domain, {tags}"
            )
        )
        session.execute(
            text(
                f"INSERT INTO click_rollups ({COLUMNS}) SELECT tenant_id, 'sent{UNLABELLED}', "
                f"'{span}', {bucket}, md5({sep} || {sep} || {sep}), false, '', '', '', '', "
                f"count(*), 0, 0 FROM messages GROUP BY tenant_id, {bucket}"
            )
        )
