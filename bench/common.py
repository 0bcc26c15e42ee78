"""Benchmark plumbing: servers on loopback, interleaved wrk rounds, parsing, RSS."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent

# What a current desktop Chrome sends when a mail client opens a link (no Referer).
BROWSER_HEADERS: Final = (
    ("Connection", "keep-alive"),
    ("sec-ch-ua", '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Windows"'),
    ("Upgrade-Insecure-Requests", "1"),
    (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
    ),
    (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
        "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    ),
    ("Sec-Fetch-Site", "none"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-User", "?1"),
    ("Sec-Fetch-Dest", "document"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9,de;q=0.8"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll check() until it is true; OSError and friends count as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def spawn(
    argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start a server in its own process group, so stopping it also stops its workers."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def log_tail(log: Path, chars: int = 2000) -> str:
    """The end of a server's log, to explain why it did not come up."""
    try:
        return f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}"
    except OSError:
        return f"--- {log.name}: no log"


def exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the process ended, without reaping it (its pid stays ours until stop())."""
    if proc.returncode is not None:
        return True
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the leader, give it grace seconds, then SIGKILL what is left of its group.

    The leader is reaped only at the very end, so the group id we signal is still the
    pid of the process we started, never a recycled one.
    """
    if proc.returncode is not None:
        return
    if not exited(proc):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while not exited(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def children(pid: int) -> list[int]:
    """Direct children of pid (Granian's worker processes), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> bytes:
    """A process's argv as /proc shows it (NUL-separated; empty if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_wrk_script(path: Path, host: str, paths: Sequence[str]) -> Path:
    """A wrk Lua script that cycles through paths with browser headers and a Host header."""
    for p in paths:
        if not p.startswith("/") or not re.fullmatch(r"[\x21-\x7e]+", p):
            raise ValueError(f"not a printable request path: {p!r}")
    headers = [("Host", host), *BROWSER_HEADERS]
    lines = [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers]
    lines.append("local paths = {" + ",\n".join(json.dumps(p) for p in paths) + "}")
    lines.append(
        "local requests, i = {}, 0\n"
        "for n, p in ipairs(paths) do requests[n] = wrk.format('GET', p) end\n"
        "request = function()\n"
        "  i = i % #requests + 1\n"
        "  return requests[i]\n"
        "end\n"
    )
    path.write_text("\n".join(lines))
    return path


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int  # socket errors plus responses that were not 2xx/3xx


_UNITS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION: Final = r"([0-9.]+)(us|ms|s|m|h)"


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_wrk(text: str) -> WrkResult:
    """Read requests/s, p50/p99/max latency and errors from `wrk --latency` output."""
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    latency = re.search(rf"Latency\s+{_DURATION}\s+{_DURATION}\s+{_DURATION}", text)
    p50 = re.search(rf"\s50%\s+{_DURATION}", text)
    p99 = re.search(rf"\s99%\s+{_DURATION}", text)
    total = re.search(r"(\d+) requests in", text)
    if not (rps and latency and p50 and p99 and total):
        raise ValueError(f"cannot parse wrk output:\n{text}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non_3xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_ms(*p50.groups()),
        p99_ms=_ms(*p99.groups()),
        max_ms=_ms(latency.group(5), latency.group(6)),
        requests=int(total.group(1)),
        errors=errors + (int(non_3xx.group(1)) if non_3xx else 0),
    )


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def run_wrk(url: str, script: Path, seconds: float, connections: int) -> WrkResult:
    """One wrk run: 1 thread, `connections` keep-alive connections, latency percentiles."""
    wrk = wrk_binary()
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian package wrk)")
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    done = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


@dataclass
class Target:
    """One contender as wrk sees it; settle runs after each of its rounds."""

    name: str
    url: str
    script: Path
    settle: Callable[[], object] = lambda: None


@dataclass
class Summary:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    rounds: list[WrkResult] = field(default_factory=list)


def warm_up(targets: Sequence[Target], seconds: float, connections: int) -> None:
    """One unmeasured run per target: connections, caches and allocator arenas warm."""
    for target in targets:
        run_wrk(target.url, target.script, seconds, connections)
        target.settle()


def interleave(
    targets: Sequence[Target],
    rounds: int,
    seconds: float,
    connections: int,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Summary]:
    """Run rounds A B C ... A B C ... and summarize each target by its medians."""
    results: dict[str, list[WrkResult]] = {t.name: [] for t in targets}
    for n in range(rounds):
        for target in targets:
            result = run_wrk(target.url, target.script, seconds, connections)
            results[target.name].append(result)
            target.settle()
            progress(f"round {n + 1}/{rounds} {target.name:<14} {result.rps:>10,.0f} req/s")
    return {name: summarize(rs) for name, rs in results.items()}


def summarize(results: list[WrkResult]) -> Summary:
    return Summary(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        max_ms=statistics.median(r.max_ms for r in results),
        errors=sum(r.errors for r in results),
        rounds=results,
    )


def paired(a: Summary, b: Summary, metric: str) -> float:
    """Median over rounds of a's metric over b's: each pair ran back to back, so drift cancels."""
    pairs = zip(a.rounds, b.rounds, strict=True)
    return float(statistics.median(getattr(x, metric) / getattr(y, metric) for x, y in pairs))
