"""Every error as JSON {"error": {"code", "message"}}; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, OperationalError

log = logging.getLogger("clickgate.control.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


class ApiError(HTTPException):
    """An error with a stable code for clients to branch on."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status_code=status, detail=message)
        self.code = code


def check_text(name: str, value: str, most: int) -> None:
    """Non-empty, bounded, and no NUL (PostgreSQL refuses it in text: a 500, not a 400)."""
    if not 0 < len(value) <= most or "\x00" in value:
        raise ApiError(400, "invalid_parameter", f"{name}: must be 1 to {most} characters, no NUL")


def error_body(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def handle_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ApiError):
        return error_body(status, exc.code, exc.detail)
    message = exc.detail
    if isinstance(exc, ValidationException):
        status = 400
        details = [_detail(e) for e in (exc.extra or []) if isinstance(e, dict)]
        message = "; ".join(d for d in details if d) or message
    # A 405's Allow (RFC 9110 requires it) and any other header Litestar set on the error.
    headers = {str(k): str(v) for k, v in (exc.headers or {}).items()}
    return error_body(status, CODES.get(status, "error"), message, headers or None)


def _detail(error: dict[str, Any]) -> str:
    key, message = str(error.get("key", "")), str(error.get("message", ""))
    if message == repr(key):  # Litestar's KeyError text for a missing argument
        return "a JSON request body is required" if key == "data" else f"{key}: required"
    return f"{key}: {message}".strip(": ")


def handle_bad_value(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A value the database cannot hold, caught where it was about to be stored or compared.

    The endpoints check what they know of; this is the net under them, so such input is a
    400 and nothing is half-written (the transaction rolls back): PostgreSQL refuses NUL in
    text, text outside Unicode and numbers out of range, SQLite integers beyond 64 bits.
    A DataError of any other kind (a value too long for its column, say) is our fault and
    stays a 500. These are logged with their traceback either way: an OverflowError or a
    UnicodeDecodeError could also come from a bug of ours.
    """
    if isinstance(exc, DataError) and _sqlstate(exc) not in _INPUT_SQLSTATES:
        return handle_unexpected(request, exc)
    log.warning("refused a value: %s", exc.__class__.__name__, exc_info=exc)
    if isinstance(exc, UnicodeDecodeError):
        return error_body(400, "bad_request", "request body is not valid UTF-8")
    if isinstance(exc, OverflowError):
        message = "a number in the request is out of range (at most 64 bits)"
    else:
        message = "a value in the request cannot be stored (a NUL character or invalid text?)"
    return error_body(400, "invalid_value", message)


# None: psycopg refused the value before sending it (NUL in text). 22021: not valid in
# the encoding; 22P05: untranslatable character; 22003: numeric value out of range.
_INPUT_SQLSTATES = frozenset({None, "22021", "22P05", "22003"})


def _sqlstate(exc: DataError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


BAD_VALUES = (DataError, OverflowError, UnicodeDecodeError)


def handle_recursion(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """msgspec refuses a body nested deeper than the interpreter's recursion limit with a
    RecursionError, which Litestar's JSON decoding lets through: the sender's error, a 400.
    Any other RecursionError is ours."""
    if "while deserializing" in str(exc):
        return error_body(400, "bad_request", "request body: JSON nested too deeply")
    return handle_unexpected(request, exc)


def handle_database_down(_: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    """The database is unreachable, restarting, out of connections or locked: nothing the
    caller did, and a retry will do. One log line per request, not a traceback."""
    log.warning("database unavailable: %s", type(exc.orig).__name__)
    response = error_body(503, "unavailable", "the database is unavailable; retry shortly")
    response.headers["Retry-After"] = "1"
    return response


def handle_unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", exc_info=exc)
    return error_body(HTTP_500_INTERNAL_SERVER_ERROR, "internal", "internal error")
