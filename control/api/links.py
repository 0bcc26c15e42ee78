"""POST /v1/links: one tracked link."""

from __future__ import annotations

from litestar import post
from litestar.params import JSONBody

from control.api.context import Ctx, TenantId
from control.api.errors import ApiError
from control.clock import now_ms
from control.domains import DomainNotReady
from control.keys import NoSigningKey
from control.links import LinkRequest, LinkResponse, mint_link
from control.tenants import NotFound
from edge.token import TokenError


@post("/v1/links", sync_to_thread=True, status_code=201, tags=["links"])
def create_link(data: JSONBody[LinkRequest], tenant_id: TenantId, ctx: Ctx) -> LinkResponse:
    """Sign a tracked URL for `url` on the tenant's (default or named) click domain."""
    try:
        with ctx.sessions() as session:
            return mint_link(session, ctx.settings, tenant_id, data, now_ms() // 1000)
    except TokenError as exc:
        raise ApiError(400, "invalid_url", str(exc)) from None
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except DomainNotReady as exc:
        raise ApiError(409, "domain_not_ready", str(exc)) from None
    except NoSigningKey as exc:
        raise ApiError(409, "no_signing_key", str(exc)) from None
