"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, select, text

from control.db.engine import make_engine
from control.db.migrate import alembic_config, upgrade
from control.db.models import Base, ConfigRevision
from control.store import CLICK_COLUMNS


@contextlib.contextmanager
def at_revision(engine: Engine, revision: str) -> Iterator[Connection]:
    """The schema as `revision` left it, with tenant 1 ("acme"), in one transaction."""
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.execute(text("INSERT INTO tenants VALUES (1, 'acme', 0, false, 0)"))
        yield conn


def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert conn.scalar(select(ConfigRevision.revision)) == 1
    engine.dispose()


def test_domains_pending_at_the_upgrade_must_prove_ownership(database_url: str) -> None:
    """0005: a custom domain not yet verified gets a token (so it needs the TXT proof);
    one already verified, and a platform domain, keep serving without one."""
    engine = make_engine(database_url)
    with at_revision(engine, "0004") as conn:
        for name, custom, verified in [
            ("click.acme.test", False, 1),
            ("pending.brand.test", True, None),
            ("live.brand.test", True, 1),
        ]:
            conn.execute(
                text(
                    "INSERT INTO domains (tenant_id, name, is_default, created_ms, custom,"
                    " dns_state, dns_reason, dns_failures, next_check_ms, verified_ms,"
                    " https_only) VALUES (1, :n, false, 0, :c, 'pending', '', 0, 0, :v, false)"
                ),
                {"n": name, "c": custom, "v": verified},
            )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, verify_token FROM domains ORDER BY name"))
        tokens: dict[str, str | None] = {name: token for name, token in rows}
    engine.dispose()
    assert tokens["click.acme.test"] is None and tokens["live.brand.test"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", tokens["pending.brand.test"] or "")


def test_clicks_stored_before_0008_take_their_message_records_stream(database_url: str) -> None:
    engine = make_engine(database_url)
    columns = CLICK_COLUMNS[:-1]  # as 0007 left the clicks table: no stream
    with at_revision(engine, "0007") as conn:
        conn.execute(
            text(
                "INSERT INTO messages (tenant_id, message_id, stream, tags, tracked_links,"
                " domain, created_ms, updated_ms) VALUES (1, 'm1', 'promo', '[]', 1, '', 0, 0)"
            )
        )
        for n, message_id in enumerate(["m1", "m9", ""]):  # recorded, unrecorded, none
            values = {name: 0 for name in columns} | {
                name: "" for name in columns if name not in _NUMBERS
            }
            values |= {"click_id": f"{n:032x}", "tenant_id": 1, "message_id": message_id}
            values |= {"tags": "[]", "bot_reasons": "[]", "is_bot": False}
            conn.execute(
                text(
                    f"INSERT INTO clicks ({', '.join(columns)}) "
                    f"VALUES ({', '.join(':' + name for name in columns)})"
                ),
                values,
            )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT message_id, stream FROM clicks ORDER BY click_id"))
        streams = [tuple(row) for row in rows]
    engine.dispose()
    assert streams == [("m1", "promo"), ("m9", ""), ("", "")]


_NUMBERS = {
    "tenant_id", "key_id", "time_ms", "received_ms", "status", "link_index", "sent_at",
    "asn", "bot_confidence", "is_bot",
}  # fmt: skip


def test_0009_keeps_every_row_and_counts_ids_on_from_the_highest(database_url: str) -> None:
    engine = make_engine(database_url)
    with at_revision(engine, "0008") as conn:
        conn.execute(
            text(
                "INSERT INTO revocations (id, tenant_id, kind, value, reason, created_ms)"
                " VALUES (7, 1, 'host', 'a.example', '', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, events, mode, include_bots,"
                " headers, secret, enabled, disabled_reason, created_ms, changed_ms)"
                " VALUES (3, 1, 'https://h.example/', '[\"click\"]', 'every', false, '{}',"
                " :secret, true, '', 0, 0)"
            ),
            {"secret": b"sealed"},
        )
        conn.execute(
            text(
                "INSERT INTO webhook_deliveries (id, endpoint_id, tenant_id, click_id,"
                " event_time_ms, payload, status, attempts, next_attempt_ms, locked_by,"
                " locked_until_ms, attempt_log, last_status_code, last_error, created_ms)"
                " VALUES ('msg_x_3', 3, 1, 'x', 0, '{}', 'pending', 0, 0, '', 0, '[]', 0, '', 0)"
            )
        )
    upgrade(engine)  # on SQLite, rebuilds both tables with a delivery pointing at one
    with engine.begin() as conn:
        assert conn.scalar(text("SELECT value FROM revocations WHERE id = 7")) == "a.example"
        assert conn.scalar(text("SELECT endpoint_id FROM webhook_deliveries")) == 3
        conn.execute(text("DELETE FROM revocations WHERE id = 7"))
        conn.execute(
            text(
                "INSERT INTO revocations (tenant_id, kind, value, reason, created_ms)"
                " VALUES (1, 'host', 'b.example', '', 0)"
            )
        )
        new_id = conn.scalar(text("SELECT id FROM revocations"))
    assert new_id != 7  # not given again
    if engine.dialect.name == "sqlite":
        assert new_id == 8  # counted on from the highest id it ever gave
    engine.dispose()
