"""An edge shipping to the wrong control plane sets the clicks aside; a replay recovers them."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import httpx

from tests.cluster import Cluster, wait_until


def set_aside(cluster: Cluster) -> int:
    text = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics").text
    found = re.search(r"^clickgate_edge_clicks_set_aside_total (\d+)$", text, re.M)
    return int(found.group(1)) if found else -1


def test_refused_clicks_are_kept_and_a_replay_stores_them_once(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, f"sqlite:///{tmp_path / 'right.db'}")
    try:
        cluster.bootstrap()
        cluster.start_control()
        cluster.start_edge()
        tracked = cluster.mint("https://example.com/offer?a=1&b=2", message_id="m-aside")
        cluster.stop("control")

        # The click is journaled while no control plane is up...
        response = httpx.get(tracked, follow_redirects=False, timeout=10)
        assert response.status_code == 302
        assert response.headers["location"] == "https://example.com/offer?a=1&b=2"

        # ...and shipped to a control plane with another database, which knows no such
        # key: it refuses the click, and the edge keeps it instead of retrying forever.
        right_env, right_key = cluster.env, cluster.api_key
        cluster.env = {**right_env, "CLICKGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'wrong.db'}"}
        cluster.bootstrap()
        cluster.start_control()
        wait_until(lambda: set_aside(cluster) == 1, 30, "the refused click set aside")
        assert (tmp_path / "edge" / "journal" / "rejected.log").stat().st_size > 0
        cluster.stop("control")

        # The right control plane back: the operator replays, and the click is stored.
        cluster.env, cluster.api_key = right_env, right_key
        cluster.start_control()
        first = json.loads(cluster.cli("replay-rejected"))
        assert first == {
            "replayed": 1,
            "inserted": 1,
            "duplicates": 0,
            "refused": {},
            "unsent": 0,
            "error": "",
        }
        clicks = cluster.clicks("m-aside")
        assert [c["url"] for c in clicks] == ["https://example.com/offer?a=1&b=2"]
        assert json.loads(cluster.cli("replay-rejected"))["replayed"] == 0  # nothing left
        assert len(cluster.clicks("m-aside")) == 1
        cluster.stop("edge", signal.SIGTERM)
    finally:
        cluster.close()
