"""Alembic environment: runs migrations on the connection control.db.migrate hands in."""

from __future__ import annotations

from alembic import context

from control.db.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER goes through batch mode
)
with context.begin_transaction():
    context.run_migrations()
