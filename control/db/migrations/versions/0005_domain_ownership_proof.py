"""domains: a verification token, proved by a TXT record before a custom domain is served

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:00:00

Custom domains not verified yet get a token now, so they too must prove ownership;
domains already verified keep serving without one (their CNAME alone is rechecked).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verify_token', sa.String(length=64), nullable=True))
    domains = sa.table(
        'domains',
        sa.column('id', sa.BigInteger),
        sa.column('custom', sa.Boolean),
        sa.column('verified_ms', sa.BigInteger),
        sa.column('verify_token', sa.String),
    )
    bind = op.get_bind()
    pending = bind.execute(
        sa.select(domains.c.id).where(domains.c.custom.is_(True), domains.c.verified_ms.is_(None))
    ).scalars()
    for domain_id in list(pending):
        bind.execute(
            domains.update()
            .where(domains.c.id == domain_id)
            .values(verify_token=secrets.token_hex(16))
        )


def downgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_column('verify_token')
