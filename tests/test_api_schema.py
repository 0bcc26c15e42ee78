"""schemathesis against /openapi.json, bounded: no 5xx, and responses match the document."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from control.api.app import build_app, make_context
from control.db.migrate import upgrade
from control.settings import ControlSettings
from control.tenants import create_api_key, create_tenant
from tests import stats_data as data
from tests.cluster import MASTER_KEY


def build() -> tuple[Any, str]:
    """An app on a fresh SQLite file with known clicks and messages, and its API key.

    Built at import: schemathesis parametrizes from the schema at collection time.
    """
    folder = Path(tempfile.mkdtemp(prefix="clickgate-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    config = ControlSettings(
        database_url=f"sqlite:///{folder / 'clickgate.db'}", click_port=0, master_key=MASTER_KEY
    )
    ctx = make_context(config)
    upgrade(ctx.engine)
    with ctx.sessions.begin() as session:
        tenant = create_tenant(session, ctx.sealer, "acme").id
        key = create_api_key(session, tenant)
    with ctx.sessions.begin() as session:
        data.record(session, data.sent((tenant, tenant)))
        data.insert(session, data.generate((tenant, tenant), count=60))
    return build_app(ctx, with_grpc=False), key


APP, KEY = build()
# What the document promises: no 5xx, and status codes, bodies and media types as
# documented (the error body is documented once as ErrorBody, and every error uses it).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)
