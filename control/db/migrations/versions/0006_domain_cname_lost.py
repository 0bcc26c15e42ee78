"""domains: since when a domain's CNAME no longer points at us

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:30:00

A verified customer domain whose CNAME has pointed elsewhere for long enough can be
registered by another tenant that proves ownership; existing rows start as not lost.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cname_lost_ms', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_column('cname_lost_ms')
