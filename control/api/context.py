"""What every API handler needs: settings, a session factory, metrics."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from control.metrics import ControlMetrics
from control.settings import ControlSettings


@dataclass(frozen=True)
class AppContext:
    settings: ControlSettings
    engine: Engine
    sessions: sessionmaker[Session]
    metrics: ControlMetrics
