"""Edge memory with a backlog: the worker's RSS while its journal holds N unshipped clicks.

The control plane is paused (SIGSTOP on its process group), so the edge keeps
redirecting and journaling while nothing ships; wrk loads the edge until the backlog
reaches --clicks or --max-seconds pass. The journal lives in memory-mapped segments on
disk, so a backlog must not grow the worker: RSS is sampled throughout. At the end the
control plane resumes and the backlog drains. Usage: python -m bench.unshipped
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from bench.common import run_wrk, wrk_binary
from bench.redirect import RssSampler, started

TARGET_MIB = 100.0  # issue 10: under 100 MB per worker with a million unshipped clicks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unshipped", description=__doc__)
    parser.add_argument("--clicks", type=int, default=1_000_000, help="backlog to build")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="load time bound")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    if wrk_binary() is None:
        print("bench.unshipped: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with started(["edge"], links=200, control_nice=0) as run:
        edge, target = run.edge, run.targets[0]
        assert edge is not None and edge.control is not None
        os.killpg(edge.control.pid, signal.SIGSTOP)
        began = time.monotonic()
        try:
            with RssSampler(edge) as sampler:
                while edge.backlog() < args.clicks and time.monotonic() - began < args.max_seconds:
                    run_wrk(target.url, target.script, 5, args.connections)
            backlog = edge.backlog()
            journal_mib = edge.counters().get("clickgate_edge_journal_bytes", 0.0) / 2**20
        finally:
            os.killpg(edge.control.pid, signal.SIGCONT)
        drained = edge.drain(300)
    rss = sampler.report()
    print(f"{'unshipped clicks':<28} {backlog:>12,}")
    print(f"{'journal on disk (MiB)':<28} {journal_mib:>12.1f}")
    for key in ("start_mib", "end_mib", "peak_mib"):
        print(f"{'edge worker RSS ' + key[:-4] + ' (MiB)':<28} {rss[key]:>12.1f}")
    print(f"{'drained after resume (s)':<28} {drained:>12.1f}")
    met = rss["peak_mib"] < TARGET_MIB and backlog >= args.clicks
    print(
        f"target: peak < {TARGET_MIB:.0f} MiB with {args.clicks:,} unshipped: "
        f"{'met' if met else 'MISSED'}"
    )
    print(
        json.dumps(
            {
                "bench": "unshipped",
                "unshipped": backlog,
                "rss_mib": rss,
                "journal_mib": round(journal_mib, 1),
                "drain_s": round(drained, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
