"""Webhook sends: the SSRF guard address by address and URL form by URL form, no
redirects, and a deadline on the whole exchange."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from control.webhooks.sender import Outcome, post
from control.webhooks.signing import new_secret
from control.webhooks.ssrf import Refused, refusal, resolve

# (address, why it is refused); every one is refused with private receivers off.
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
    ("100.64.0.1", "special-purpose"),  # carrier-grade NAT
    ("100.100.100.200", "special-purpose"),  # Alibaba Cloud metadata, inside CGNAT
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),  # "this network"
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.0.8", "special-purpose"),
    ("192.0.2.1", "private"),  # documentation
    ("198.18.0.1", "private"),  # benchmarking
    ("198.51.100.7", "private"),
    ("203.0.113.9", "private"),
    ("2001:db8::1", "private"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of the metadata address
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of the metadata address
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    ("::ffff:0:7f00:1", "reserved"),  # IPv4-translated
    ("2001::1", "private"),  # Teredo
    ("fec0::1", "site-local"),
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
ALLOWED += ["64:ff9b::808:808"]  # NAT64 of a public address: fine on IPv6-only networks
# With private receivers allowed (development, tests), these stay refused anyway.
ALWAYS = ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::"]
ALWAYS += ["240.0.0.1", "255.255.255.255", "64:ff9b::a9fe:a9fe"]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_refused_address(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ALLOWED)
def test_public_address_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == ""


@pytest.mark.parametrize("address", ALWAYS)
def test_refused_even_with_private_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) != ""


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "fd12::1", "100.64.0.9"])
def test_allow_private_opens_loopback_and_private(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) == ""


# Every textual spelling of loopback and of the metadata address, as a receiver URL.
URL_FORMS = [
    ("http://127.0.0.1/", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal
    ("http://0x7f000001/", "loopback"),  # hex
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://017700000001/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://127.1/", "loopback"),  # short form
    ("http://localhost:8080/hook", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://2852039166/", "link-local"),  # decimal 169.254.169.254
    ("http://0xa9fea9fe/", "link-local"),
    ("http://0/", "unspecified"),
    ("http://0.0.0.0:9/", "unspecified"),
    ("http://[::]/", "unspecified"),
]


@pytest.mark.parametrize(("url", "why"), URL_FORMS)
def test_every_url_form_is_resolved_then_refused(url: str, why: str) -> None:
    outcome = post(url, b"{}", [new_secret()], "msg_1", 0, {}, 1.0, allow_private=False)
    assert outcome.status == 0
    assert f"a {why} address" in outcome.error, outcome.error


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(Refused, match="cannot resolve"):
        resolve("no-such-host.invalid", 80)


@pytest.fixture
def redirector() -> Iterator[tuple[int, list[str]]]:
    """A receiver that answers every POST with a redirect to its own /landed."""
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            paths.append(self.path)
            self.send_response(307)
            self.send_header("location", f"http://{self.headers['host']}/landed")
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, paths
    server.shutdown()
    server.server_close()


def test_redirects_are_not_followed(redirector: tuple[int, list[str]]) -> None:
    port, paths = redirector
    url = f"http://127.0.0.1:{port}/hook"
    outcome = post(url, b"{}", [new_secret()], "msg_1", 0, {}, 2.0, allow_private=True)
    assert outcome.status == 307  # recorded as a failed attempt, retried later
    assert paths == ["/hook"]


@pytest.fixture
def dribbler() -> Iterator[int]:
    """A receiver that answers a byte at a time, each well within the socket timeout."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.3)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_a_dribbling_receiver_is_cut_off_at_twice_the_timeout(dribbler: int) -> None:
    start = time.monotonic()
    url = f"http://127.0.0.1:{dribbler}/hook"
    outcome = post(url, b"{}", [new_secret()], "msg_1", 0, {}, 0.5, allow_private=True)
    assert outcome == Outcome(0, "no complete answer within 1 s")
    assert time.monotonic() - start < 2.0  # unbounded, it would take 11 s


def test_an_invalid_port_stored_earlier_is_a_failed_attempt_not_a_crash() -> None:
    outcome = post("http://10.0.0.1:99999/hook", b"{}", ["whsec_" + "A" * 32], "m", 1, {}, 1, True)
    assert (outcome.status, outcome.error) == (0, "url has an invalid port")


@pytest.fixture
def answering() -> Iterator[tuple[int, list[bytes]]]:
    """A raw receiver: reads a request, writes the bytes the test put first in the
    list, then holds the connection open without another byte (until shut down)."""
    answers: list[bytes] = []
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(answers[0])
            stop.wait(5)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], answers
    stop.set()
    listener.close()


def test_a_2xx_whose_body_stalls_is_still_an_acknowledgement(
    answering: tuple[int, list[bytes]],
) -> None:
    port, answers = answering
    answers.append(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nok")  # 98 bytes short
    url = f"http://127.0.0.1:{port}/hook"
    outcome = post(url, b"{}", [new_secret()], "msg_1", 0, {}, 0.5, allow_private=True)
    assert outcome.status == 200  # was a timeout, and the event went out again


def test_retry_after_of_a_429_is_read(answering: tuple[int, list[bytes]]) -> None:
    port, answers = answering
    answers.append(
        b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 120\r\ncontent-length: 0\r\n\r\n"
    )
    url = f"http://127.0.0.1:{port}/hook"
    outcome = post(url, b"{}", [new_secret()], "msg_1", 0, {}, 0.5, allow_private=True)
    assert (outcome.status, outcome.retry_after_s) == (429, 120.0)


@pytest.mark.parametrize("status", [200, 429])
def test_a_retry_after_that_is_not_ascii_digits_is_ignored(
    answering: tuple[int, list[bytes]], status: int
) -> None:
    port, answers = answering
    answers.append(
        f"HTTP/1.1 {status} X\r\nretry-after: \u00b2\r\ncontent-length: 0\r\n\r\n".encode("latin-1")
    )
    url = f"http://127.0.0.1:{port}/hook"
    outcome = post(url, b"{}", [new_secret()], "msg_1", 0, {}, 0.5, allow_private=True)
    assert (outcome.status, outcome.retry_after_s) == (status, None)  # was a ValueError


def test_a_garbage_answer_is_recorded_as_printable_text(
    answering: tuple[int, list[bytes]],
) -> None:
    """The receiver's raw bytes, control codes included, went into last_error as they
    came, and from there into the API's JSON and operators' terminals."""
    port, answers = answering
    answers.append(b"\x1b[2J\x00\xffgarbage\r\n\r\n")
    url = f"http://127.0.0.1:{port}/hook"
    outcome = post(url, b"{}", [new_secret()], "msg_1", 0, {}, 0.5, allow_private=True)
    assert outcome.status == 0 and "garbage" in outcome.error
    assert outcome.error.isprintable() and outcome.error.isascii(), outcome.error
