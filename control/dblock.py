"""Cluster-wide mutual exclusion for periodic jobs, through the shared database."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a job name (pg advisory locks take a bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


def try_job_lock(session: Session, name: str) -> bool:
    """Take the job's lock for the rest of this transaction, or say another process has it.

    PostgreSQL: a transaction-level advisory lock, released at commit or rollback, and
    also when a crashed replica's connection goes, so no lease can be left behind.
    SQLite has one writer per database file, which serialises the job already.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    query = text("SELECT pg_try_advisory_xact_lock(:key)")
    return bool(session.scalar(query, {"key": lock_key(name)}))
