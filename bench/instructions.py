"""Instructions per request of the edge's Python work, counted by callgrind (repeatable).

Run: python -m bench.instructions [--requests N] [pieces...]. Each piece runs twice
under ``valgrind --tool=callgrind`` in a fresh interpreter (PYTHONHASHSEED=0), once
with N measured requests and once with none; the difference over N is the piece's
cost per request, free of start-up and imports. Wall clock on a shared machine
drifts; instruction counts do not. The ASGI callable is driven directly, without a
server: ``app(scope, receive, send).send(None)`` runs a request to its end, since
nothing on the path suspends. Requests cycle through 200 distinct tokens with the
headers desktop Chrome sends, as in the redirect benchmark.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import BROWSER_HEADERS, ROOT

PIECES = ("loop", "bare", "edge", "edge-nojournal", "headers", "open")
WARMUP = 2000
LINKS = 200


def _fresh(data: bytes) -> bytes:
    """A new bytes object with no cached hash, as a server builds for every request."""
    return bytes(bytearray(data))


def _scopes(paths: list[str], count: int) -> list[dict[str, Any]]:
    """One scope per request, shaped as Granian builds them (lower-case names, bytes,
    host first), each with its own header objects: a dict lookup must hash them anew."""
    headers = [(b"host", b"click.example:8080")]
    headers += [(k.lower().encode(), v.encode()) for k, v in BROWSER_HEADERS]
    scopes = []
    for n in range(count):
        path = paths[n % len(paths)]
        scopes.append(
            {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path.encode().decode(),
                "raw_path": _fresh(path.encode()),
                "query_string": b"",
                "root_path": "",
                "headers": [(_fresh(k), _fresh(v)) for k, v in headers],
                "client": ("127.0.0.1", "40968"),
                "server": ("127.0.0.1", "8080"),
            }
        )
    return scopes


def _workload(piece: str, data_dir: Path) -> Callable[[dict[str, Any]], object]:
    """One request's work for a piece, as a callable taking the scope."""
    from edge import token
    from tests.edgekit import KEY, KEY_ID, make_state

    if piece == "loop":
        return lambda scope: None
    if piece == "headers":
        return lambda scope: dict(scope["headers"])
    if piece == "open":
        keys = {KEY_ID: KEY}
        return lambda scope: token.open_token(scope["path"][1:], keys)
    app: Callable[..., Any]
    if piece == "bare":
        from bench.contenders.bare import app
    else:
        from edge.app import build_app

        state = make_state(data_dir)
        if piece == "edge-nojournal":
            state.journal = None
        app = build_app(state)

    async def noop(message: dict[str, Any]) -> None:
        return None

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    def request(scope: dict[str, Any]) -> object:
        try:
            app(scope, receive, noop).send(None)
        except StopIteration:
            return None
        raise RuntimeError("the request path suspended")

    return request


def run_piece(piece: str, requests: int, measure: bool) -> None:
    """The body of one measured process: set up, warm up, then the requests, if measured.

    Set-up is the same either way (scopes for every request are built up front), so
    the difference between a measured and an unmeasured run is the requests alone.
    """
    from bench.contenders.edge import destination
    from edge import token
    from tests.edgekit import KEY, KEY_ID

    paths = [
        "/" + token.mint(KEY_ID, KEY, destination(n), message_id=f"bench-{n}", tags=("bench",))
        for n in range(LINKS)
    ]
    scopes = _scopes(paths, WARMUP + requests)
    with tempfile.TemporaryDirectory() as tmp:
        work = _workload(piece, Path(tmp))
        for scope in scopes[:WARMUP]:
            work(scope)
        if measure:  # callgrind collects only inside reduce (--toggle-collect)
            functools.reduce(lambda _, scope: work(scope), scopes[WARMUP:], None)
        else:  # the same reduce, with the work left out: what the loop itself costs
            functools.reduce(lambda _, scope: None, scopes[WARMUP:], None)


def count(piece: str, requests: int, measure: bool) -> int:
    """Instructions callgrind counted for one process (running the requests or not)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        argv = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            piece,
            "--requests",
            str(requests),
            *(["--measure"] if measure else []),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
        result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        match = re.search(r"Collected : (\d+)", result.stderr)
        if result.returncode != 0 or match is None:
            raise RuntimeError(f"callgrind failed for {piece}:\n{result.stderr[-2000:]}")
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pieces", nargs="*", default=list(PIECES), help=", ".join(PIECES))
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--child", choices=PIECES, help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = set(args.pieces) - set(PIECES)
    if unknown:
        parser.error(f"unknown pieces: {sorted(unknown)}")
    if args.child:
        run_piece(args.child, args.requests, args.measure)
        return
    results = {}
    with ThreadPoolExecutor(2) as pool:  # callgrind counts do not depend on load
        for piece in args.pieces:
            base = pool.submit(count, piece, args.requests, False)
            loaded = pool.submit(count, piece, args.requests, True)
            results[piece] = (loaded.result() - base.result()) / args.requests
            print(f"{piece:16} {results[piece]:>9,.0f} instructions/request", flush=True)
    if "edge" in results and "edge-nojournal" in results:
        journal = results["edge"] - results["edge-nojournal"]
        print(f"{'journal (diff)':16} {journal:>9,.0f} instructions/request")


if __name__ == "__main__":
    main()
