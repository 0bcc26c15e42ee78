"""Our edge with a real control plane behind it, started the way production starts them.

The control plane (SQLite in a temp dir) and the edge are the `clickgate control` and
`clickgate edge` commands on loopback ports; links are minted through the HTTP API,
and the edge journals every click and ships it over gRPC while the load runs.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import children, cmdline, free_port, log_tail, rss_kib, spawn, stop, wait_for

DOMAIN = "localhost"


def destination(n: int) -> str:
    """A realistic destination: a product page with campaign parameters."""
    return (
        f"https://shop.example.com/products/{n}?utm_source=newsletter&utm_medium=email"
        f"&utm_campaign=spring-sale&utm_content=link-{n % 7}"
    )


def _new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


# In production the control plane runs on its own machines, not beside an edge. Here it
# shares the edge's two cores, so once it is up it runs at idle priority (nice 19, and its
# scheduler autogroup's nice 19, since `spawn` starts a new session and Linux weighs
# autogroups against each other): it ingests in whatever CPU the load leaves free, and
# each round ends by waiting until every click is committed (EdgeStack.drain).
CONTROL_NICE = 19


class EdgeStack:
    """One control plane and one edge (1 Granian worker) sharing a temp directory."""

    def __init__(self, tmp: Path, control_nice: int = CONTROL_NICE, **env: str) -> None:
        self.tmp = tmp
        self.control_nice = control_nice
        self.api_port, self.grpc_port = free_port(), free_port()
        self.port, self.metrics_port = free_port(), free_port()
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CLICKGATE_")}
        self.env = {
            **inherited,  # but no CLICKGATE_* of the caller's: the bench sets them all
            "CLICKGATE_DATABASE_URL": f"sqlite:///{tmp / 'clickgate.db'}",
            "CLICKGATE_DATA_DIR": str(tmp),
            "CLICKGATE_API_PORT": str(self.api_port),
            "CLICKGATE_GRPC_PORT": str(self.grpc_port),
            "CLICKGATE_CONTROL_TOKEN": "bench-edge-token",
            "CLICKGATE_CLICK_SCHEME": "http",
            "CLICKGATE_CLICK_PORT": str(self.port),
            "CLICKGATE_EDGE_PORT": str(self.port),
            "CLICKGATE_EDGE_METRICS_PORT": str(self.metrics_port),
            "CLICKGATE_EDGE_CONTROL_GRPC": f"127.0.0.1:{self.grpc_port}",
            "CLICKGATE_EDGE_CONTROL_TOKEN": "bench-edge-token",
            "CLICKGATE_EDGE_DATA_DIR": str(tmp / "edge"),
            "CLICKGATE_EDGE_GRACE": "2",  # a quick stop: each round is drained already
            # Fresh secrets per run: seal signing keys in the database and the edge snapshot.
            "CLICKGATE_MASTER_KEY": _new_key(),
            "CLICKGATE_EDGE_SNAPSHOT_KEY": _new_key(),
            **env,
        }
        self.control: subprocess.Popen[bytes] | None = None
        self.edge: subprocess.Popen[bytes] | None = None
        self.api_key = ""
        self.paths: list[str] = []
        self.locations: list[str] = []

    @property
    def host(self) -> str:
        return f"{DOMAIN}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, links: int) -> None:
        """Migrate, create a tenant, start both servers, mint links; returns when ready."""
        try:
            self._start(links)
        except (RuntimeError, httpx.HTTPError) as exc:
            logs = "\n".join(log_tail(self.tmp / f"{n}.log") for n in ("control", "edge"))
            raise RuntimeError(f"{exc}\n{logs}") from exc

    def _start(self, links: int) -> None:
        self._cli("migrate")
        out = self._cli("tenant", "create", "bench", "--domain", DOMAIN)
        self.api_key = re.search(r"api_key: (\S+)", out).group(1)  # type: ignore[union-attr]
        self.control = self._serve("control")
        api = f"http://127.0.0.1:{self.api_port}"
        wait_for(lambda: httpx.get(f"{api}/healthz").status_code == 200, 60, "control plane")
        self.edge = self._serve("edge")
        wait_for(lambda: httpx.get(f"{self.url}/readyz").status_code == 200, 60, "edge ready")
        self._mint(api, links)
        self._lower_control_priority()

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "control.cli", *args],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"clickgate {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def _serve(self, command: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "control.cli", command]
        return spawn(argv, self.tmp / f"{command}.log", self.tmp, self.env)

    def _lower_control_priority(self) -> None:
        """Once it is up and the links are minted (starting niced on a loaded machine
        takes minutes): the control plane's process group, and its session's autogroup."""
        if not self.control_nice or self.control is None:
            return
        pgid = self.control.pid  # spawn() made it a session (and process group) leader
        os.setpriority(os.PRIO_PGRP, pgid, self.control_nice)
        with contextlib.suppress(OSError):  # kernels without autogroups
            Path(f"/proc/{pgid}/autogroup").write_text(str(self.control_nice))

    def _mint(self, api: str, links: int) -> None:
        prefix = f"http://{self.host}"
        headers = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(base_url=api, headers=headers, timeout=30) as client:
            for n in range(links):
                body = {"url": destination(n), "message_id": f"bench-{n}", "tags": ["bench"]}
                response = client.post("/v1/links", json=body)
                response.raise_for_status()
                tracked = str(response.json()["tracked_url"])
                if not tracked.startswith(prefix):
                    raise RuntimeError(f"unexpected tracked URL {tracked}")
                self.paths.append(tracked[len(prefix) :])
                self.locations.append(destination(n))

    def check(self) -> None:
        """One real click must redirect to its destination before we measure anything."""
        response = httpx.get(self.url + self.paths[0], headers={"Host": self.host})
        if response.status_code != 302 or response.headers["location"] != self.locations[0]:
            raise RuntimeError(f"edge answered {response.status_code} {response.headers}")

    def counters(self) -> dict[str, float]:
        """The edge's Prometheus counters without labels (journaled, shipped, ...)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                values[name] = float(value)
        return values

    def backlog(self) -> int:
        """Clicks journaled but not yet committed by the control plane."""
        c = self.counters()
        shipped = c["clickgate_edge_clicks_shipped_total"]
        return int(c["clickgate_edge_clicks_journaled_total"] - shipped)

    def drain(self, timeout: float) -> float:
        """Wait until the control plane has every click (or timeout); the seconds it took.

        Shipping a round's clicks costs the control plane CPU; letting it finish keeps
        that cost out of the next contender's round.
        """
        start = time.monotonic()
        while self.backlog() > 0 and time.monotonic() - start < timeout:
            time.sleep(0.1)
        return time.monotonic() - start

    def worker_pids(self) -> list[int]:
        """The Granian workers: the edge's children but the agent (edge.agent)."""
        if self.edge is None:
            return []
        return [pid for pid in children(self.edge.pid) if b"edge.agent" not in cmdline(pid)]

    def worker_rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.worker_pids())

    def close(self) -> None:
        """Edge first (it drains to the control plane within its grace), then control."""
        for proc in (self.edge, self.control):
            if proc is not None:
                stop(proc, grace=10)
        self.edge = self.control = None
