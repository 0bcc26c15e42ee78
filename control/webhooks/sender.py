"""One signed POST to a pinned, SSRF-checked address; no redirects, short timeout."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from control.webhooks.signing import signed_headers
from control.webhooks.ssrf import Refused, resolve

USER_AGENT = "clickgate-webhooks/1"
_OURS = frozenset(
    {"content-type", "content-length", "host", "user-agent"}
    | {"webhook-id", "webhook-timestamp", "webhook-signature"}
)
_TLS = ssl.create_default_context()


@dataclass(frozen=True)
class Outcome:
    status: int  # HTTP status, 0 when no response
    error: str = ""
    retry_after_s: float | None = None  # a 429's or 503's Retry-After, in seconds


def _retry_after(value: str | None) -> float | None:
    """Retry-After as delay-seconds (an HTTP-date is rare from receivers: ignored)."""
    # isascii too: "²" is a digit to str.isdigit and not to float(), and a receiver's
    # odd header must not turn its acknowledgement into an exception.
    text = "" if value is None else value.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return float(text)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_TLS)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = _TLS.wrap_socket(raw, server_hostname=self.host)


class _Deadline:
    """Cuts the connection when a whole exchange outlasts its budget: the socket timeout
    bounds each read, so a receiver dribbling a byte a second would hold a slot, and
    outlive the row's lock (a duplicate), for as long as it liked."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.conn, self.seconds, self.fired = conn, seconds, False
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True

    def _cut(self) -> None:
        self.fired = True
        if self.conn.sock is not None:
            with contextlib.suppress(OSError):
                self.conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read


def post(
    url: str,
    body: bytes,
    secrets: list[str],
    msg_id: str,
    timestamp: int,
    extra_headers: dict[str, str],
    timeout: float,
    allow_private: bool,
) -> Outcome:
    """Blocking: run in a worker thread. Never raises for network trouble.

    http.client never follows redirects: a 3xx is recorded as a failed attempt. The whole
    exchange takes at most 2 * timeout."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
        address = resolve(host, port, allow_private)[0]
    except Refused as exc:
        return Outcome(0, str(exc)[:500])
    except ValueError:  # stored before endpoints checked their port
        return Outcome(0, "url has an invalid port")
    cls = _PinnedHTTPS if https else _PinnedHTTP
    conn = cls(host, port, address, timeout)
    headers = {
        # Ours win, whatever the case of an endpoint's header stored before they were refused.
        **{k: v for k, v in extra_headers.items() if k.lower() not in _OURS},
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(secrets, msg_id, timestamp, body),
    }
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = _Deadline(conn, 2 * timeout)
    deadline.timer.start()
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        if deadline.fired:
            return Outcome(0, f"no complete answer within {deadline.seconds:g} s")
        # ascii(): a garbage status line is the receiver's raw bytes, control codes and
        # all, and this text is shown in the API and dashboards.
        return Outcome(0, f"{exc.__class__.__name__}: {ascii(str(exc))[1:-1]}"[:500])
    else:
        # The status line is the answer: a receiver that acknowledged with a 2xx and
        # then stalled on its body has still acknowledged (else the event goes again).
        retry_after = _retry_after(response.getheader("retry-after"))
        with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
            response.read(65536)
        return Outcome(response.status, retry_after_s=retry_after)
    finally:
        deadline.timer.cancel()
        conn.close()
