"""The redirect edge: a raw ASGI app. Verify token, journal click, answer 302.

The request path awaits nothing but ``send``: token check and config lookups are
dict and hash work in memory, and the journal append is a copy into a memory-mapped
segment, that is into the page cache (see edge.journal). Everything slow runs
elsewhere: fsync and config reload in the background thread (edge.background),
shipping and the config stream in the edge agent process (edge.agent).
"""

from __future__ import annotations

import contextlib
import faulthandler
import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from edge.background import Background
from edge.clientip import ClientIP
from edge.responses import (
    BAD_REQUEST,
    BAD_REQUEST_HEAD,
    EMPTY_BODY,
    GONE,
    GONE_HEAD,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    NOT_FOUND_HEAD,
    NOT_READY,
    OK,
    REDIRECT_HEADERS,
)
from edge.settings import EdgeSettings, load_edge_settings
from edge.state import EdgeState
from edge.token import Opened, location, open_path

Scope = dict[str, Any]
Headers = list[tuple[bytes, bytes]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def build_app(state: EdgeState) -> ASGIApp:
    """Return the ASGI callable; everything it reads per request is bound here once."""
    settings = state.settings
    metrics = state.metrics
    served = metrics.served
    client_ip = ClientIP(settings.trusted_proxies)
    max_path = settings.max_path
    click_prefix = os.urandom(8)  # unique per process; the counter makes ids unique within it
    click_counter = itertools.count(1)
    now = time.time
    background = Background(state)

    async def not_found(path: str, method: str, send: Send, raw_headers: Headers) -> None:
        """Anything that is not a valid tracked link: probes, a 400 for a request with no
        usable Host, or a page that reveals nothing."""
        if path == "/healthz" or path == "/readyz":  # load balancers probe without a Host
            ready = path == "/healthz" or state.ready
            for message in OK if ready else NOT_READY:
                await send(message)
            return
        host = single_host(raw_headers)
        if host is None:
            served[400] += 1
            for message in BAD_REQUEST if method == "GET" else BAD_REQUEST_HEAD:
                await send(message)
            return
        if path.startswith(ACME_CHALLENGE_PREFIX) and state.config is not None:
            # ACME HTTP-01: answered only for domains (and tokens) in the config snapshot.
            answer = state.config.challenges.get(_bare_host(host) + b"/" + path[28:].encode())
            if answer is not None:
                served[200] += 1
                for message in acme_answer(answer, method):
                    await send(message)
                return
        served[404] += 1
        for message in NOT_FOUND if method == "GET" else NOT_FOUND_HEAD:
            await send(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await background.lifespan(receive, send)
            return
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            served[405] += 1
            for message in METHOD_NOT_ALLOWED:
                await send(message)
            return
        path: str = scope["path"]
        config = state.config
        raw_headers = scope["headers"]
        if len(path) > max_path or config is None:
            return await not_found(path, method, send, raw_headers)
        # One C-level pass over the headers beats a Python loop of comparisons; a
        # repeated header keeps its last value (the User-Agent excepted, below).
        headers = dict(raw_headers)
        repeated = len(headers) != len(raw_headers)  # some header sent twice: rare
        host = headers.get(b"host", b"")
        colon = host.find(b":")
        name = host[:colon].lower() if colon > 0 else host.lower()
        found = config.host_keys.get(name)
        if found is None and name.endswith(b"."):  # "click.example." names it too (FQDN)
            found = config.host_keys.get(name[:-1])  # one dot: "a.." has an empty label
        if (
            found is None
            # Two Host lines, or a port of not only digits after our name: RFC 9112 3.2
            # wants a 400 unless the field is one valid host[:port]. The full check
            # runs only then (a name found in host_keys is valid as it is).
            or (
                (repeated or (colon > 0 and not host[colon + 1 :].isdigit()))
                and single_host(raw_headers) is None
            )
            or (opened := open_path(path[1:], found[1])) is None
        ):
            return await not_found(path, method, send, raw_headers)
        key_id, netloc, raw, body = opened
        revoked = config.revoked.get(found[0])
        status = 302
        if revoked is not None and revoked.blocks(Opened(key_id, netloc, raw, body)):
            status = 410
        journal = state.journal
        if journal is not None:
            client = scope.get("client")
            peer = client[0] if client else ""
            forwarded = headers.get(b"x-forwarded-for")
            journal.append(
                (
                    click_prefix + next(click_counter).to_bytes(8, "big"),
                    int(now() * 1000),
                    status,
                    b"GET" if method == "GET" else b"HEAD",
                    host,
                    client_ip.resolve(peer, forwarded, scope["headers"])
                    if forwarded is not None
                    else peer,
                    # Two User-Agent lines are all recorded: a scanner's own name
                    # in the first must not hide behind a browser's in the last.
                    all_values(raw_headers, b"user-agent")
                    if repeated
                    else headers.get(b"user-agent", b""),
                    headers.get(b"referer", b""),
                    headers.get(b"accept-language", b""),
                    headers.get(b"sec-purpose")
                    or headers.get(b"purpose")
                    or headers.get(b"x-moz", b""),
                    netloc,
                    raw,
                )
            )
        served[status] += 1
        if status == 410:  # kill switch: recorded as blocked, never redirected
            for message in GONE if method == "GET" else GONE_HEAD:
                await send(message)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", location(netloc, body)), *REDIRECT_HEADERS],
            }
        )
        await send(EMPTY_BODY)

    return app


ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/"  # 28 characters


def acme_answer(key_authorization: bytes, method: str) -> list[dict[str, Any]]:
    """An ACME HTTP-01 response: rare (only while a CA validates), so built per request."""
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(len(key_authorization)).encode()),
        (b"cache-control", b"no-store"),
    ]
    body = key_authorization if method == "GET" else b""
    return [
        {"type": "http.response.start", "status": 200, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


# RFC 9112 3.2 and RFC 3986 3.2.2: uri-host [":" port], the host an IP literal or a
# non-empty reg-name (an "http" URI's host is never empty, RFC 9110 4.2.1).
_HOST_FIELD = re.compile(
    rb"(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=%]+\]|[0-9A-Za-z.\-_~!$&'()*+,;=%]+)(?::[0-9]*)?"
)


def all_values(raw_headers: Headers, name: bytes) -> bytes:
    """Every value of a repeated header, joined as RFC 9110 5.3 combines field lines."""
    return b", ".join([value for field, value in raw_headers if field == name])


def single_host(raw_headers: Headers) -> bytes | None:
    """The request's one valid Host value, or None when it has none, several, or a bad one.

    Granian puts an empty Host into the scope of a request that sent none.
    """
    hosts = [value for name, value in raw_headers if name == b"host"]
    if len(hosts) != 1 or _HOST_FIELD.fullmatch(hosts[0]) is None:
        return None
    return hosts[0]


def _bare_host(host: bytes) -> bytes:
    colon = host.find(b":")
    return host[:colon].lower() if colon > 0 else host.lower()


def create_app(settings: EdgeSettings | None = None) -> ASGIApp:
    """Granian factory: settings come from the environment, checked by the CLI first."""
    # A worker that dies in native code (SIGSEGV, SIGBUS, SIGABRT) is respawned by Granian
    # without a word; this writes the Python stacks of its threads to stderr first. A
    # stderr that is no file (None, a StringIO) leaves it off rather than the worker down.
    # (io.UnsupportedOperation, raised for a stream without fileno(), is a ValueError.)
    with contextlib.suppress(AttributeError, RuntimeError, ValueError):
        faulthandler.enable()
    return build_app(EdgeState(settings or load_edge_settings()))
