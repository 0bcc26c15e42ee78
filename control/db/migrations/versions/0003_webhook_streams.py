"""webhook endpoints: message stream scope and secret rotation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_secret', sa.LargeBinary(length=256), nullable=True))
        batch_op.add_column(sa.Column('previous_expires_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('stream', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_column('stream')
        batch_op.drop_column('previous_expires_ms')
        batch_op.drop_column('previous_secret')
