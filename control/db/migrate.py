"""Schema migrations with Alembic, driven from code (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select

from control.db.engine import make_sessionmaker
from control.db.models import ConfigRevision

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the latest schema and make sure the singleton rows exist."""
    config = alembic_config(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite rebuilds a table to change it (batch mode); dropping the old copy of
            # a table others refer to must not cascade or fail. Its documented procedure:
            # foreign keys off (outside a transaction), migrate, check them, on again.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    with make_sessionmaker(engine).begin() as session:
        if session.scalar(select(ConfigRevision).where(ConfigRevision.id == 1)) is None:
            session.add(ConfigRevision(id=1, revision=1))


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the models (a developer's tool)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
