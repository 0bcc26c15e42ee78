"""Answer from the rollups when they cover the range (see rolled.covers), else from raw clicks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from control.stats import aggregate, rolled
from control.stats.aggregate import Overview, Row
from control.stats.filters import ClickFilter


def overview(session: Session, f: ClickFilter) -> Overview:
    if rolled.covers(f):
        return rolled.overview(session, f)
    return aggregate.overview(session, f)


def breakdown(
    session: Session, f: ClickFilter, dimension: str, limit: int, detail: bool = False
) -> list[Row]:
    if rolled.covers(f, dimension):
        return rolled.breakdown(session, f, dimension, limit, detail)
    return aggregate.breakdown(session, f, dimension, limit, detail)
