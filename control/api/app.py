"""The control plane's ASGI app: HTTP API, /metrics, /healthz, and the gRPC server it hosts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, get
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp
from sqlalchemy.exc import OperationalError

from control.acme.jobs import certificates_forever, dns_checks_forever
from control.api.auth import tenant_from_request
from control.api.bodytimeout import body_timeout
from control.api.clicks import message_clicks
from control.api.context import AppContext, Ctx
from control.api.document import openapi_document as document_of
from control.api.domains import (
    create_domain,
    delete_domain,
    list_domains,
    recheck_domain,
    show_domain,
    update_domain,
)
from control.api.errors import (
    BAD_VALUES,
    handle_bad_value,
    handle_database_down,
    handle_http,
    handle_recursion,
    handle_unexpected,
)
from control.api.head import head_as_get
from control.api.keys import (
    create_revocation,
    list_keys,
    list_revocations,
    remove_revocation,
    revoke_signing_key,
    rotate_key,
)
from control.api.links import create_link
from control.api.rewrite import rewrite_links
from control.api.singlequery import single_query
from control.api.stats import HANDLERS as STATS_HANDLERS
from control.api.streams import (
    create_stream_handler,
    delete_stream_handler,
    list_streams_handler,
    show_stream,
    update_stream_handler,
)
from control.api.strictbody import strict_body
from control.api.tenant import (
    delete_recipient,
    delete_recipient_by_query,
    get_tenant,
    update_tenant,
)
from control.api.utf8target import utf8_target
from control.api.webhooks import HANDLERS as WEBHOOK_HANDLERS
from control.db.engine import make_engine, make_sessionmaker
from control.enrich import SEED_SCANNER_CIDRS, Enricher
from control.ingest import Ingestor
from control.metrics import ControlMetrics
from control.privacy import retention_forever
from control.rpc import promote_keys_forever, start_grpc
from control.settings import ControlSettings, load_control_settings
from control.webhooks.dispatcher import webhooks_forever

log = logging.getLogger("clickgate.control")


@get("/openapi.json", include_in_schema=False, media_type=MediaType.JSON)
async def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return document_of(request.app)


@get("/healthz", include_in_schema=False, media_type=MediaType.TEXT)
async def healthz() -> str:
    return "ok\n"


@get("/metrics", include_in_schema=False, media_type=MediaType.TEXT)
async def metrics(ctx: Ctx) -> str:
    return ctx.metrics.render()


def build_app(ctx: AppContext, with_grpc: bool = True) -> Litestar:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        server, ingest = None, None
        if with_grpc:
            s = ctx.settings
            ingestor = Ingestor(ctx.sealer, ctx.enricher)
            server, port, ingest = await start_grpc(
                ctx.sessions, s.grpc_host, s.grpc_port, s.control_token, ctx.metrics, ingestor
            )
            log.info("gRPC listening on %s:%d", s.grpc_host, port)
        jobs = [asyncio.create_task(promote_keys_forever(ctx.sessions))] if with_grpc else []
        if with_grpc:
            jobs.append(asyncio.create_task(retention_forever(ctx.sessions)))
            jobs.append(
                asyncio.create_task(webhooks_forever(ctx.settings, ctx.sessions, ctx.sealer))
            )
        if with_grpc:  # domain jobs need edges to publish challenges and certificates to
            jobs.append(asyncio.create_task(dns_checks_forever(ctx.settings, ctx.sessions)))
            jobs.append(
                asyncio.create_task(certificates_forever(ctx.settings, ctx.sessions, ctx.sealer))
            )
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
            if server is not None:
                await server.stop(grace=5)
            if ingest is not None:
                ingest.close()

    return Litestar(
        route_handlers=[
            openapi_document,
            healthz,
            metrics,
            create_link,
            get_tenant,
            update_tenant,
            delete_recipient,
            delete_recipient_by_query,
            message_clicks,
            list_keys,
            rotate_key,
            revoke_signing_key,
            create_revocation,
            list_revocations,
            remove_revocation,
            create_domain,
            list_domains,
            show_domain,
            recheck_domain,
            update_domain,
            delete_domain,
            rewrite_links,
            create_stream_handler,
            list_streams_handler,
            show_stream,
            update_stream_handler,
            delete_stream_handler,
            *STATS_HANDLERS,
            *WEBHOOK_HANDLERS,
        ],
        dependencies={
            "ctx": Provide(lambda: ctx, use_cache=True, sync_to_thread=False),
            "tenant_id": Provide(tenant_from_request, sync_to_thread=True),
        },
        exception_handlers={
            HTTPException: handle_http,
            **{bad: handle_bad_value for bad in BAD_VALUES},
            RecursionError: handle_recursion,
            OperationalError: handle_database_down,
            Exception: handle_unexpected,
        },
        lifespan=[lifespan],
        before_request=strict_body,
        middleware=[utf8_target, single_query, body_timeout],
        openapi_config=OpenAPIConfig(
            title="clickgate",
            version="0.1.0",
            path="/schema",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="API key")
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )


def make_context(settings: ControlSettings) -> AppContext:
    engine = make_engine(settings.database_url)
    enricher = Enricher(
        settings.geoip_db or None,
        settings.asn_db or None,
        # An operator's ranges come on top of the seed list, not instead of it.
        [*SEED_SCANNER_CIDRS, *settings.scanner_cidrs],
    )
    sessions = make_sessionmaker(engine)
    return AppContext(settings, engine, sessions, ControlMetrics(), settings.sealer, enricher)


def create_app() -> ASGIApp:
    """Granian factory: settings from the environment, validated by the CLI first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return head_as_get(build_app(make_context(load_control_settings())))
