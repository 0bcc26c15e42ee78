"""Ingest throughput over gRPC into SQLite and PostgreSQL, against the edge's peak redirect rate.

Run: python -m bench.ingest [--clicks N]. Starts real processes on loopback: a
control plane per database, and one edge whose peak rate wrk measures in the same
run. Batches are real journal records (valid tokens of many messages, varied clients
and networks), replayed with two in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import grpc
from clickgate.v1 import ingest_pb2, ingest_pb2_grpc

from bench.common import run_wrk, write_wrk_script
from edge import token
from edge.record import encode_record
from tests.cluster import Cluster

BATCH = 2000
IN_FLIGHT = 2
# What a mail's clicks look like: several clients, networks and links, each message
# clicked a few times over minutes. (Identical clicks would flatter the rollups, which
# then touch the same few rows for a whole batch.)
AGENTS = [
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/142.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 "
    b"(KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    b"Version/18.6 Safari/605.1.15",
    b"Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/142.0.0.0 Mobile Safari/537.36",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
]
CLICKS_PER_MESSAGE = 4
LINKS = 10


def make_batches(cluster: Cluster, clicks: int) -> list[list[bytes]]:
    """Real journal records: a quarter as many messages as clicks, ten links each, the
    clicks of one message spread over the run (10 ms apart in click time)."""
    key = cluster.signing_key()
    keys = {key[0]: key[1]}
    messages = max(1, clicks // CLICKS_PER_MESSAGE)
    prefix, now = secrets.token_bytes(8), int(time.time() * 1000)
    records = []
    for n in range(clicks):
        m, link = n * 7919 % messages, n % LINKS
        path = token.mint(
            key[0], key[1], f"https://shop.example/p/{m % 50}/{link}?utm_source=news",
            message_id=f"m{m}", link_index=link, recipient=f"r{m}", sent_at=now // 1000 - 600,
        )  # fmt: skip
        found = token.open_token(path, keys)
        assert found is not None
        record = (
            prefix + n.to_bytes(8, "big"), now + 10 * n, 302, b"GET", b"localhost",
            f"198.51.{n % 7}.{n % 251}", AGENTS[n % len(AGENTS)], b"", b"en-US,en;q=0.9", b"",
            found.netloc, found.raw,
        )  # fmt: skip
        records.append(encode_record(record))
    return [records[i : i + BATCH] for i in range(0, clicks, BATCH)]


async def replay(address: str, token_: str, batches: list[list[bytes]]) -> tuple[float, int]:
    """Send every batch with IN_FLIGHT requests outstanding; (seconds, clicks inserted)."""
    metadata = (("authorization", f"Bearer {token_}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestStub(channel)
        queue = list(reversed(batches))
        inserted = 0

        async def worker() -> None:
            nonlocal inserted
            while queue:
                records = queue.pop()
                request = ingest_pb2.IngestClicksRequest(edge_id="bench", records=records)
                reply = await stub.IngestClicks(request, metadata=metadata, timeout=60)
                inserted += reply.inserted

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return time.perf_counter() - started, inserted


def ingest_rate(tmp: Path, database_url: str, clicks: int) -> float:
    cluster = Cluster(tmp, database_url)
    try:
        cluster.bootstrap()
        cluster.start_control()
        batches = make_batches(cluster, clicks)
        address = f"127.0.0.1:{cluster.grpc_port}"
        asyncio.run(replay(address, "test-edge-token", batches[:2]))  # warm up
        seconds, inserted = asyncio.run(replay(address, "test-edge-token", batches[2:]))
        expected = sum(len(b) for b in batches[2:])
        if inserted != expected:
            raise RuntimeError(f"inserted {inserted} of {expected}")
        return inserted / seconds
    finally:
        cluster.close()


def edge_peak(tmp: Path, seconds: float) -> float:
    cluster = Cluster(tmp, f"sqlite:///{tmp / 'edge.db'}")
    try:
        cluster.bootstrap()
        cluster.start_control()
        cluster.start_edge()
        paths = [
            cluster.mint(f"https://example.com/p/{n}").split(f":{cluster.edge_port}", 1)[1]
            for n in range(50)
        ]
        script = write_wrk_script(tmp / "wrk.lua", f"localhost:{cluster.edge_port}", paths)
        run_wrk(cluster.edge_url, script, 2, 64)  # warm up
        return run_wrk(cluster.edge_url, script, seconds, 64).rps
    finally:
        cluster.close()


def postgres_url() -> str | None:
    import psycopg

    admin = os.environ.get("CLICKGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"clickgate_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return None
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    admin = os.environ.get("CLICKGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--edge-seconds", type=float, default=5)
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="clickgate-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        for name in ("edge", "sqlite", "postgresql"):
            (tmp / name).mkdir()
        results["edge_peak_rps"] = edge_peak(tmp / "edge", args.edge_seconds)
        results["sqlite"] = ingest_rate(tmp / "sqlite", f"sqlite:///{tmp}/sqlite/i.db", args.clicks)
        pg = postgres_url()
        if pg is not None:
            try:
                results["postgresql"] = ingest_rate(tmp / "postgresql", pg, args.clicks)
            finally:
                drop_database(pg)
    peak = results["edge_peak_rps"]
    print(f"{'target':<12} {'clicks/s':>10} {'x edge peak':>12}")
    print(f"{'edge 302s':<12} {peak:>10.0f} {1.0:>12.2f}")
    for name in ("sqlite", "postgresql"):
        if name in results:
            print(f"{name:<12} {results[name]:>10.0f} {results[name] / peak:>12.2f}")
    print(json.dumps({"bench": "ingest", "batch": BATCH, "in_flight": IN_FLIGHT, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
