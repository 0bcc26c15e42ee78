"""`clickgate up`: control plane + one edge on loopback with a demo tenant, for trying it out."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import select

from control.db.engine import make_engine, make_sessionmaker
from control.db.migrate import upgrade
from control.db.models import Tenant
from control.domains import add_domain
from control.links import LinkRequest, mint_link
from control.settings import load_control_settings
from control.tenants import authenticate, create_api_key, create_tenant
from edge.sealing import new_key_text
from edge.settings import load_edge_settings

DEMO_TENANT = "demo"
DEMO_DOMAIN = "localhost"


def local_secret(data_dir: Path, name: str) -> str:
    """A key kept in the data dir (mode 0600) so a restarted demo can read its data."""
    path = data_dir / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key_text())
    return path.read_text().strip()


def child_environment(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    token = secrets.token_urlsafe(24)
    database_url = args.database_url or f"sqlite:///{data_dir / 'clickgate.db'}"
    env = dict(os.environ)
    env.update(
        {
            "CLICKGATE_DATABASE_URL": database_url,
            "CLICKGATE_API_PORT": str(args.api_port),
            "CLICKGATE_GRPC_PORT": str(args.grpc_port),
            "CLICKGATE_CONTROL_TOKEN": token,
            "CLICKGATE_CLICK_SCHEME": "http",
            "CLICKGATE_CLICK_PORT": str(args.edge_port),
            "CLICKGATE_DATA_DIR": str(data_dir),
            "CLICKGATE_EDGE_PORT": str(args.edge_port),
            "CLICKGATE_EDGE_METRICS_PORT": str(args.metrics_port),
            "CLICKGATE_EDGE_CONTROL_GRPC": f"127.0.0.1:{args.grpc_port}",
            "CLICKGATE_EDGE_CONTROL_TOKEN": token,
            "CLICKGATE_EDGE_DATA_DIR": str(data_dir / "edge"),
        }
    )
    geoip = data_dir / "geoip" / "geo-whois-asn-country.mmdb"  # from `make geoip`
    if geoip.is_file():
        env.setdefault("CLICKGATE_GEOIP_DB", str(geoip))
    env.setdefault("CLICKGATE_MASTER_KEY", local_secret(data_dir, "master.key"))
    env.setdefault("CLICKGATE_EDGE_SNAPSHOT_KEY", local_secret(data_dir, "edge-snapshot.key"))
    return env


def prepare_demo(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """Migrate, make sure the demo tenant and domain exist, and mint a demo link."""
    settings = load_control_settings(env)
    load_edge_settings(env)  # fail here, naming the variable, rather than in a child
    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    demo_file = data_dir / "demo.json"
    old_key = json.loads(demo_file.read_text()).get("api_key", "") if demo_file.exists() else ""
    with sessions.begin() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.name == DEMO_TENANT))
        if tenant is None:
            tenant = create_tenant(session, settings.sealer, DEMO_TENANT)
            add_domain(session, tenant.id, DEMO_DOMAIN, default=True)
        api_key = old_key if authenticate(session, old_key) == tenant.id else ""
        api_key = api_key or create_api_key(session, tenant.id)
        link = mint_link(
            session,
            settings,
            tenant.id,
            LinkRequest(url="https://example.com/?utm_source=clickgate", message_id="demo-1"),
            int(time.time()),
        )
    engine.dispose()
    demo = {
        "api_url": f"http://127.0.0.1:{settings.api_port}",
        "edge_url": f"http://{DEMO_DOMAIN}:{env['CLICKGATE_EDGE_PORT']}",
        "api_key": api_key,
        "domain": DEMO_DOMAIN,
        "tracked_url": link.tracked_url,
        "message_id": "demo-1",
    }
    demo_file.write_text(json.dumps(demo, indent=2) + "\n")
    return demo


def wait_http(url: str, timeout: float, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a clickgate process exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def run_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = child_environment(args, data_dir)
    demo = prepare_demo(env, data_dir)
    cli = [sys.executable, "-m", "control.cli"]
    procs = [subprocess.Popen([*cli, "control"], env=env)]
    procs.append(subprocess.Popen([*cli, "edge"], env=env))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        wait_http(f"{demo['api_url']}/healthz", 30, procs)
        wait_http(f"http://127.0.0.1:{env['CLICKGATE_EDGE_PORT']}/readyz", 30, procs)
        print_demo(demo)
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.2)
    except RuntimeError as exc:
        print(f"clickgate up: {exc}", file=sys.stderr)
        stopping = False
    finally:
        shutdown(procs)
    return 0 if stopping else 1


def shutdown(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop in reverse start order, so the edge ships its last clicks while the control
    plane still listens; kill what does not stop within its grace period."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def print_demo(demo: dict[str, str]) -> None:
    api, key = demo["api_url"], demo["api_key"]
    print(
        f"""
clickgate is up.
  API:          {api}   (OpenAPI: {api}/openapi.json)
  edge:         {demo["edge_url"]}
  API key:      {key}
  tracked link: {demo["tracked_url"]}

Click the link:
  curl -si '{demo["tracked_url"]}'
See the click:
  curl -s -H 'Authorization: Bearer {key}' {api}/v1/messages/{demo["message_id"]}/clicks
Mint another link:
  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\
       -d '{{"url": "https://example.org/", "message_id": "m-2"}}' {api}/v1/links

These facts are in {Path("var") / "demo.json"} for scripts. Ctrl-C stops everything.
""",
        flush=True,
    )
