"""click stream: each click keeps its message's stream as it was at ingest

The rollups froze it at ingest while raw queries joined the message record as it is
now, so after a message was rewritten into another stream the two disagreed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'clicks', sa.Column('stream', sa.String(length=64), server_default='', nullable=False)
    )
    # Clicks stored before this kept no stream: their message record's is the best known.
    op.execute(
        "UPDATE clicks SET stream = COALESCE((SELECT m.stream FROM messages m "
        "WHERE m.tenant_id = clicks.tenant_id AND m.message_id = clicks.message_id), '') "
        "WHERE message_id <> ''"
    )


def downgrade() -> None:
    with op.batch_alter_table('clicks') as batch:
        batch.drop_column('stream')
