"""Fixtures: the tiny generated databases, and enrichers built on them (built once: ~0.2 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.enrich import Enricher
from tests.enrich.mmdb_fixture import ASN_RECORDS, GEO_RECORDS, write_db


@pytest.fixture(scope="session")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mmdb")


@pytest.fixture(scope="session")
def geo_db(db_dir: Path) -> Path:
    return write_db(db_dir / "city.mmdb", GEO_RECORDS, "GeoLite2-City")


@pytest.fixture(scope="session")
def asn_db(db_dir: Path) -> Path:
    return write_db(db_dir / "asn.mmdb", ASN_RECORDS, "GeoLite2-ASN")


@pytest.fixture(scope="session")
def enricher(geo_db: Path, asn_db: Path) -> Enricher:
    return Enricher(str(geo_db), str(asn_db))


@pytest.fixture(scope="session")
def bare_enricher() -> Enricher:
    """No databases configured."""
    return Enricher(None, None)
