"""What every API handler needs: settings, a session factory, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import Parameter
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from control.enrich import Enricher
from control.metrics import ControlMetrics
from control.settings import ControlSettings
from edge.sealing import Sealer


@dataclass(frozen=True)
class AppContext:
    settings: ControlSettings
    engine: Engine
    sessions: sessionmaker[Session]
    metrics: ControlMetrics
    sealer: Sealer
    enricher: Enricher


# Handler parameter types: injected by name (see the dependencies in control.api.app).
Ctx = NamedDependency[AppContext]
TenantId = NamedDependency[int]
# A row id in a path: an id beyond 64 bits names no row, and is refused before the
# database sees it (a 400 naming the parameter, not a logged driver error).
RowId = Annotated[int, Parameter(le=2**63 - 1)]
