"""Redirect benchmark: the edge against bare Granian, Starlette+itsdangerous and nginx.

Every contender runs on its own loopback port; wrk (1 thread, keep-alive
connections, browser headers, distinct valid tracked links) loads them in
interleaved rounds A B C D A B C D ..., and ratios are taken per round, so drift on
a shared machine hits both sides of a ratio alike. Usage: python -m bench.redirect
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bench.common import (
    ROOT,
    Summary,
    Target,
    free_port,
    interleave,
    log_tail,
    paired,
    spawn,
    stop,
    wait_for,
    warm_up,
    write_wrk_script,
    wrk_binary,
)
from bench.contenders import bare, nginx, starlette_peer
from bench.contenders.edge import CONTROL_NICE, EdgeStack, destination

CONTENDERS = ("bare", "edge", "starlette", "nginx")
# Optional: the edge with its journal (and so shipping) off, to price durability.
OPTIONAL = ("edge-nojournal",)
MIB = 1024


@dataclass
class Run:
    """What one benchmark run started, so it can all be stopped."""

    tmp: Path
    stack: contextlib.ExitStack
    edge: EdgeStack | None = None
    targets: list[Target] = field(default_factory=list)
    control_nice: int = CONTROL_NICE


def redirects(url: str, location: str | None) -> bool:
    response = httpx.get(url, timeout=2)
    ok = response.status_code == 302
    return ok and (location is None or response.headers["location"] == location)


def start_edge(run: Run, links: int, name: str = "edge", **env: str) -> EdgeStack:
    """Control plane plus edge; links distinct tracked links minted through the API."""
    tmp = run.tmp / name
    tmp.mkdir()
    edge = EdgeStack(tmp, run.control_nice, **env)
    run.stack.callback(edge.close)
    edge.start(links)
    edge.check()
    return edge


def add_targets(run: Run, names: list[str]) -> None:
    """Start the named contenders; the edge must have started (the others reuse its paths)."""
    edge = run.edge
    assert edge is not None
    for name in names:
        if name == "edge":
            script = write_wrk_script(run.tmp / "edge.lua", edge.host, edge.paths)
            run.targets.append(Target("edge", edge.url, script, lambda: edge.drain(60)))
        elif name == "edge-nojournal":
            other = start_edge(run, len(edge.paths), name, CLICKGATE_EDGE_JOURNAL="false")
            script = write_wrk_script(run.tmp / f"{name}.lua", other.host, other.paths)
            run.targets.append(Target(name, other.url, script))
        else:
            run.targets.append(start_peer(run, name, edge.host, edge.paths))


def start_peer(run: Run, name: str, host: str, paths: list[str]) -> Target:
    """Start one of the comparison servers; bare and nginx ignore the path, so they get
    the edge's (same request bytes); the Starlette peer gets its own signed links."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    location: str | None
    if name == "bare":
        argv = [sys.executable, "-m", "bench.contenders.bare", "--port", str(port)]
        location = bare.LOCATION.decode()
    elif name == "starlette":
        argv = [sys.executable, "-m", "bench.contenders.starlette_peer", "--port", str(port)]
        paths = [starlette_peer.mint(destination(n), f"bench-{n}", n) for n in range(len(paths))]
        location = destination(0)
    elif name == "nginx":
        (run.tmp / "nginx").mkdir()
        argv = nginx.command(run.tmp / "nginx", port)
        location = nginx.LOCATION
    else:
        raise ValueError(f"unknown contender {name!r}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = run.tmp / f"{name}.log"
    run.stack.callback(stop, spawn(argv, log, ROOT, env))
    try:
        wait_for(lambda: redirects(url + paths[0], location), 60, f"{name} to answer 302")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{log_tail(log)}") from exc
    return Target(name, url, write_wrk_script(run.tmp / f"{name}.lua", host, paths))


class RssSampler:
    """Samples the edge worker's VmRSS (KiB) every interval seconds in a thread."""

    def __init__(self, edge: EdgeStack, interval: float = 0.5) -> None:
        self.edge = edge
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self.samples.append(self.edge.worker_rss_kib())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.edge.worker_rss_kib())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.edge.worker_rss_kib())

    def report(self) -> dict[str, float]:
        s = self.samples
        return {"start_mib": s[0] / MIB, "end_mib": s[-1] / MIB, "peak_mib": max(s) / MIB}


def ratios(summaries: dict[str, Summary]) -> dict[str, float]:
    edge = summaries["edge"]
    out = {
        "edge/bare throughput": paired(edge, summaries["bare"], "rps"),
        "edge/bare p99": paired(edge, summaries["bare"], "p99_ms"),
    }
    for peer in ("starlette", "nginx", "edge-nojournal"):
        if peer in summaries:
            out[f"edge/{peer} throughput"] = paired(edge, summaries[peer], "rps")
    return out


GOALS = {  # issue 10's targets for the full edge path
    "edge/bare throughput": (">=", 0.90),
    "edge/bare p99": ("<=", 1.20),
    "edge/starlette throughput": (">=", 4.00),
}
NOTES = {
    "edge/nginx throughput": "nginx return 302: this machine's ceiling",
    "edge/edge-nojournal throughput": "what the journal and shipping cost",
}


def verdict(name: str, value: float) -> str:
    if name not in GOALS:
        return NOTES.get(name, "")
    op, goal = GOALS[name]
    met = value >= goal if op == ">=" else value <= goal
    return f"target {op} {goal:.2f}: {'met' if met else 'MISSED'}"


def table(summaries: dict[str, Summary], rs: dict[str, float], rss: dict[str, float]) -> str:
    lines = [
        f"{'contender':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    ]
    for name, s in summaries.items():
        lines.append(
            f"{name:<14} {s.rps:>10,.0f} {s.p50_ms:>8.2f} {s.p99_ms:>8.2f} "
            f"{s.max_ms:>8.2f} {s.errors:>7}"
        )
    lines.append("")
    lines.extend(f"{name:<31} {value:>6.2f}   {verdict(name, value)}" for name, value in rs.items())
    lines.append(
        f"edge worker RSS: start {rss['start_mib']:.1f} MiB, end {rss['end_mib']:.1f} MiB, "
        f"peak {rss['peak_mib']:.1f} MiB"
    )
    return "\n".join(lines)


@dataclass
class Measurement:
    summaries: dict[str, Summary]
    rss: dict[str, float]  # the edge worker's, MiB: start, end, peak
    clicks: dict[str, float]  # the edge's counters after the run: journaled, shipped, ...
    respawned: bool = False  # an edge worker died during the rounds (Granian replaced it)
    logs: str = ""  # the control plane's and edge's log tails when anything went wrong

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.summaries.values())


def measure(
    run: Run, rounds: int, seconds: float, connections: int, warmup: float, quiet: bool = False
) -> Measurement:
    """Warm up, then the interleaved rounds with the edge worker's RSS sampled throughout."""
    assert run.edge is not None
    progress: Callable[[str], None] = (lambda _: None) if quiet else _progress
    warm_up(run.targets, warmup, connections)  # not measured, not even for RSS
    workers = run.edge.worker_pids()
    with RssSampler(run.edge) as sampler:
        summaries = interleave(run.targets, rounds, seconds, connections, progress)
    respawned = run.edge.worker_pids() != workers
    counters = run.edge.counters()
    clicks = {
        name: counters.get(f"clickgate_edge_clicks_{name}_total", 0.0)
        for name in ("journaled", "shipped", "set_aside")
    }
    logs = ""
    errors = sum(s.errors for s in summaries.values())
    if respawned or errors or not clicks["shipped"]:  # say why (the gate prints this)
        logs = "\n".join(log_tail(run.edge.tmp / f"{n}.log", 4000) for n in ("control", "edge"))
    return Measurement(summaries, sampler.report(), clicks, respawned, logs)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def started(names: list[str], links: int, control_nice: int = CONTROL_NICE) -> Iterator[Run]:
    """Start the contenders in a temp dir; on exit (error and Ctrl-C too) stop them all."""
    with tempfile.TemporaryDirectory(prefix="clickgate-bench-") as tmp:
        run = Run(Path(tmp), contextlib.ExitStack(), control_nice=control_nice)
        try:
            run.edge = start_edge(run, links)
            add_targets(run, names)
            yield run
        finally:
            with _no_interrupts():
                run.stack.close()


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Let cleanup finish: a second Ctrl-C or SIGTERM must not leave servers behind."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.redirect", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="per contender per round")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, once per contender")
    parser.add_argument("--links", type=int, default=200, help="distinct tracked links")
    parser.add_argument(
        "--control-nice",
        type=int,
        default=CONTROL_NICE,
        choices=range(20),
        metavar="0-19",
        help="priority of the control plane sharing these cores (production: other machines)",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated, run in this order; needs bare,edge; optional: {OPTIONAL}",
    )
    args = parser.parse_args(argv)
    args.names = [n for n in args.contenders.split(",") if n]
    unknown = set(args.names) - set(CONTENDERS + OPTIONAL)
    if unknown or not {"bare", "edge"} <= set(args.names):
        parser.error(f"--contenders: choose from {CONTENDERS + OPTIONAL}, with bare and edge")
    if args.rounds < 1 or args.seconds < 1 or args.connections < 1:
        parser.error("--rounds, --seconds and --connections must be at least 1")
    return args


def report(args: argparse.Namespace, m: Measurement, rs: dict[str, float]) -> dict[str, Any]:
    """The run as one JSON object: settings, per-contender medians and rounds, ratios."""
    return {
        "bench": "redirect",
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "control_nice": args.control_nice,
        "contenders": {
            name: {
                "rps": round(s.rps),
                "p50_ms": s.p50_ms,
                "p99_ms": s.p99_ms,
                "max_ms": s.max_ms,
                "errors": s.errors,
                "rounds_rps": [round(r.rps) for r in s.rounds],
            }
            for name, s in m.summaries.items()
        },
        "ratios": {k: round(v, 3) for k, v in rs.items()},
        "edge_rss_mib": {k: round(v, 1) for k, v in m.rss.items()},
        "edge_clicks": {k: int(v) for k, v in m.clicks.items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk_binary() is None:
        print("bench.redirect: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _sigterm)
    began = time.monotonic()
    try:
        with started(args.names, args.links, args.control_nice) as run:
            m = measure(run, args.rounds, args.seconds, args.connections, args.warmup)
    except KeyboardInterrupt:
        print("bench.redirect: interrupted; all servers stopped", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError, httpx.HTTPError) as exc:
        print(f"bench.redirect: {exc}", file=sys.stderr)
        return 1
    rs = ratios(m.summaries)
    print(table(m.summaries, rs, m.rss))
    clicks = ", ".join(f"{k} {v:,.0f}" for k, v in m.clicks.items())
    print(f"edge clicks: {clicks}; control plane at nice {args.control_nice}")
    print(f"run took {time.monotonic() - began:.0f} s")
    if m.errors:
        print(f"WARNING: {m.errors} socket errors or non-3xx responses; see the errors column")
    if m.respawned:
        print("WARNING: an edge worker died during the rounds and was replaced")
    if m.logs:
        print(m.logs, file=sys.stderr)
    print(json.dumps(report(args, m, rs)))
    print(f"edge/bare throughput ratio: {rs['edge/bare throughput']:.2f}")
    return 1 if m.errors or m.respawned else 0


if __name__ == "__main__":
    sys.exit(main())
