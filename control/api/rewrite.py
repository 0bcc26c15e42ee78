"""POST /v1/messages/rewrite: a message's HTML and text with tracked links, and a report."""

from __future__ import annotations

from litestar import post
from litestar.params import JSONBody

from control.api.context import Ctx, TenantId
from control.api.errors import ApiError
from control.domains import DomainNotReady
from control.keys import NoSigningKey
from control.messages import (
    MAX_REQUEST_BYTES,
    BodyTooLarge,
    RewriteRequest,
    RewriteResponse,
    rewrite,
)
from control.tenants import Conflict, NotFound


@post(
    "/v1/messages/rewrite",
    sync_to_thread=True,
    status_code=200,
    tags=["messages"],
    request_max_body_size=MAX_REQUEST_BYTES,
)
def rewrite_links(data: JSONBody[RewriteRequest], tenant_id: TenantId, ctx: Ctx) -> RewriteResponse:
    """Replace the links in `html` and `text` with tracked links; report every link found.

    The message is recorded (id, stream, tags, tracked links) for per-message click rates;
    rewriting the same `message_id` again updates that record.
    """
    try:
        return rewrite(ctx.sessions, ctx.settings, tenant_id, data)
    except BodyTooLarge as exc:
        raise ApiError(413, "too_large", str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except ValueError as exc:  # after its subclasses BodyTooLarge and Conflict
        raise ApiError(400, "bad_request", str(exc)) from None
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except DomainNotReady as exc:
        raise ApiError(409, "domain_not_ready", str(exc)) from None
    except NoSigningKey as exc:
        raise ApiError(409, "no_signing_key", str(exc)) from None
