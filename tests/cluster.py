"""Start the real clickgate processes on random loopback ports for integration tests."""

from __future__ import annotations

import base64
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
SNAPSHOT_KEY = base64.b64encode(bytes(range(100, 132))).decode()


# Ports handed out by free_port come from below the kernel's ephemeral range: a port the
# kernel picked for us (bind to 0) could be given to an outgoing connection in the seconds
# before our server binds it, and the server then fails to start ("Failed to bind", seen
# in CI). Each pytest-xdist worker draws from its own slice, so workers never collide.
_FIRST_PORT, _LAST_PORT = 10000, 32767  # 32768-60999 is Linux's default ephemeral range
_handed_out: set[int] = set()


def free_port() -> int:
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    workers = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), worker + 1)
    size = (_LAST_PORT - _FIRST_PORT) // workers
    first = _FIRST_PORT + worker * size
    for _ in range(1000):
        port = random.randrange(first, first + size)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use by another server, or another run on this machine
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {first}-{first + size}")


# Seconds a server may take to come up: imports alone take seconds of CPU, and the suite
# runs tests side by side on two cores.
STARTUP = 90.0


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Cluster:
    """One control plane and any number of edges sharing a data directory."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.api_port, self.grpc_port = free_port(), free_port()
        self.edge_port, self.metrics_port = free_port(), free_port()
        self.env = dict(os.environ)
        self.env.update(
            {
                "CLICKGATE_DATABASE_URL": database_url,
                "CLICKGATE_API_PORT": str(self.api_port),
                "CLICKGATE_GRPC_PORT": str(self.grpc_port),
                "CLICKGATE_CONTROL_TOKEN": "test-edge-token",
                "CLICKGATE_CLICK_SCHEME": "http",
                "CLICKGATE_CLICK_PORT": str(self.edge_port),
                "CLICKGATE_EDGE_PORT": str(self.edge_port),
                "CLICKGATE_EDGE_METRICS_PORT": str(self.metrics_port),
                "CLICKGATE_EDGE_CONTROL_GRPC": f"127.0.0.1:{self.grpc_port}",
                "CLICKGATE_EDGE_CONTROL_TOKEN": "test-edge-token",
                "CLICKGATE_EDGE_DATA_DIR": str(tmp / "edge"),
                "CLICKGATE_EDGE_SHIP_INTERVAL": "0.05",
                # Outages here last seconds: a shorter retry cap keeps drains from
                # waiting out the default 30 s backoff.
                "CLICKGATE_EDGE_SHIP_MAX_BACKOFF": "1",
                "CLICKGATE_EDGE_GRACE": "5",
                "CLICKGATE_MASTER_KEY": MASTER_KEY,
                "CLICKGATE_EDGE_SNAPSHOT_KEY": SNAPSHOT_KEY,
            }
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.api_key = ""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "control.cli", *args],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def bootstrap(self, domain: str = "localhost") -> str:
        """Migrate and create a tenant with a default click domain; returns its API key."""
        self.cli("migrate")
        out = self.cli("tenant", "create", f"t-{free_port()}", "--domain", domain)
        self.api_key = dict(line.split(": ", 1) for line in out.splitlines())["api_key"]
        return self.api_key

    def start(self, name: str, command: str, **env: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "control.cli", command],
            env={**self.env, **env},
            cwd=self.tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_control(self) -> None:
        self.start("control", "control")
        # HEAD, as load balancers probe: the served app answers it as GET (control.api.head).
        wait_until(lambda: httpx.head(f"{self.api_url}/healthz").status_code == 200, STARTUP, "API")

    def start_edge(self, name: str = "edge", wait_ready: bool = True) -> None:
        self.start(name, "edge")
        if wait_ready:
            wait_until(
                lambda: httpx.get(f"{self.edge_url}/readyz").status_code == 200,
                STARTUP,
                "edge ready",
            )

    def start_extra_edge(self, name: str) -> str:
        """Another edge with its own port and data dir; returns its base URL."""
        port = free_port()
        self.start(
            name,
            "edge",
            CLICKGATE_EDGE_PORT=str(port),
            CLICKGATE_EDGE_METRICS_PORT=str(free_port()),
            CLICKGATE_EDGE_DATA_DIR=str(self.tmp / name),
            CLICKGATE_EDGE_EDGE_ID=name,
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, STARTUP, f"{name} ready")
        return url

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """SIGTERM lets Granian stop its workers; SIGKILL takes the workers down too, as a
        node failure would (an orphaned worker would keep serving on a reused port)."""
        if sig == signal.SIGKILL:
            self.kill_tree(name)
            return -signal.SIGKILL
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.procs[name] = proc
            self.kill_tree(name)
            raise

    def kill_tree(self, name: str) -> None:
        """SIGKILL a Granian server and its workers, as a node failure would."""
        proc = self.procs.pop(name)
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        for pid in [proc.pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        """Teardown kills: graceful stops are tested where they matter, and a stop one
        process at a time (an edge draining towards a control plane already gone) cost
        5-10 s per test."""
        for name in list(self.procs):
            self.kill_tree(name)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log")
        )

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.request(method, f"{self.api_url}{path}", headers=headers, timeout=10, **kwargs)

    def mint(self, url: str, **fields: Any) -> str:
        response = self.api("POST", "/v1/links", json={"url": url, **fields})
        assert response.status_code == 201, response.text
        return str(response.json()["tracked_url"])

    def signing_key(self) -> tuple[int, bytes]:
        """The (id, secret) of the first tenant's active key, read from the database."""
        from sqlalchemy import select

        from control.db.engine import make_engine
        from control.db.models import SigningKey
        from control.keys import key_secret
        from edge.sealing import Sealer, parse_key

        engine = make_engine(self.env["CLICKGATE_DATABASE_URL"])
        with engine.connect() as conn:
            row = conn.execute(select(SigningKey).where(SigningKey.state == "active")).first()
        engine.dispose()
        assert row is not None
        key = SigningKey(id=row.id, tenant_id=row.tenant_id, secret=row.secret)
        return row.id, key_secret(Sealer(parse_key(self.env["CLICKGATE_MASTER_KEY"])), key)

    def clicks(self, message_id: str) -> list[dict[str, Any]]:
        response = self.api("GET", f"/v1/messages/{message_id}/clicks")
        assert response.status_code == 200, response.text
        return list(response.json()["clicks"])
