"""rollups: labelled rows of dimensions other than 'all' are kept per UTC day only

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 03:20:00

Ingest stopped writing their hour rows (control.rollups.grouped.variants) and queries no
longer read them, so the ones already stored are dropped. Downgrade rebuilds nothing:
run control.rollups.rebuild with the older code to get them back.
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

DIMENSIONS = ('browser', 'platform', 'os', 'email_client', 'country', 'city', 'link', 'location')


def upgrade() -> None:
    names = ", ".join(f"'{d}'" for d in DIMENSIONS)
    op.execute(f"DELETE FROM click_rollups WHERE span = 'h' AND dimension IN ({names})")


def downgrade() -> None:
    pass
