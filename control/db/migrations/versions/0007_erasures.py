"""erasures: recipients whose clicks were deleted, so late copies are not stored again

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'erasures',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('tenant_id', sa.BigInteger(), nullable=False),
        sa.Column('recipient_hash', sa.String(length=32), nullable=False),
        sa.Column('erased_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures')),
    )
    op.create_index('ix_erasures_recipient', 'erasures', ['tenant_id', 'recipient_hash'])


def downgrade() -> None:
    op.drop_index('ix_erasures_recipient', table_name='erasures')
    op.drop_table('erasures')
