"""ids never reused: revocations and webhook endpoints get AUTOINCREMENT on SQLite

Without it SQLite hands the highest id out again once its row is deleted, so a retried
DELETE /v1/revocations/{id} lifted a newer revocation, and a new webhook endpoint took
a deleted one's id (and webhook-ids). PostgreSQL sequences never reuse ids: no change.
control.db.migrate runs SQLite migrations with foreign keys off and checks them after,
as SQLite's own procedure for rebuilding a table asks (webhook_deliveries refer to
webhook_endpoints).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:20:00
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TABLES = ('revocations', 'webhook_endpoints')


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        # The copy keeps every row and id; SQLite then counts on from the highest.
        with op.batch_alter_table(
            table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}
        ):
            pass
