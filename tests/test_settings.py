"""Bad settings stop a process at start with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edge.envconfig import SettingsError
from edge.settings import load_edge_settings
from edge.shipper import backoff
from tests.cluster import MASTER_KEY


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("edge", "CLICKGATE_EDGE_PORT", "eighty"),
        ("edge", "CLICKGATE_EDGE_PORT", "70000"),
        ("edge", "CLICKGATE_EDGE_CONTROL_GRPC", "nohostport"),
        ("edge", "CLICKGATE_EDGE_TRUSTED_PROXIES", "10.0.0.0/8,not-a-cidr"),
        ("edge", "CLICKGATE_EDGE_JOURNAL_FSYNC_INTERVAL", "-1"),
        ("control", "CLICKGATE_API_PORT", "abc"),
        ("control", "CLICKGATE_DATABASE_URL", "mysql://x"),
        ("control", "CLICKGATE_CLICK_SCHEME", "ftp"),
        ("migrate", "CLICKGATE_GRPC_PORT", "-5"),
        ("migrate", "CLICKGATE_MASTER_KEY", "too-short"),
        ("edge", "CLICKGATE_EDGE_SNAPSHOT_KEY", "c2hvcnQ="),
        # 0 made the agent spin without ever awaiting; over the control plane's limit,
        # every batch of a backlog was refused whole and set aside.
        ("edge", "CLICKGATE_EDGE_SHIP_BATCH", "0"),
        ("edge", "CLICKGATE_EDGE_SHIP_BATCH", "10001"),
        ("edge", "CLICKGATE_EDGE_HOST", "not-a-host"),  # was Granian's traceback
        ("edge", "CLICKGATE_EDGE_GRACE", "inf"),  # passed "must be positive"
        ("control", "CLICKGATE_API_HOST", "not-a-host"),
        ("control", "CLICKGATE_GRPC_HOST", "not-a-host"),
        ("control", "CLICKGATE_GEOIP_DB", "/etc/passwd"),  # a file, but no MaxMind DB
        ("control", "CLICKGATE_WEBHOOK_POLL_SECONDS", "nan"),
    ],
)
def test_bad_setting_exits_nonzero_naming_it(command: str, variable: str, value: str) -> None:
    env = {**os.environ, "CLICKGATE_MASTER_KEY": MASTER_KEY, variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "control.cli", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_lists_are_comma_separated() -> None:
    settings = load_edge_settings({"CLICKGATE_EDGE_TRUSTED_PROXIES": "10.0.0.0/8, ::1/128"})
    assert settings.trusted_proxies == ["10.0.0.0/8", "::1/128"]


def test_defaults_load() -> None:
    assert load_edge_settings({}).port == 8080
    with pytest.raises(SettingsError, match="CLICKGATE_EDGE_WORKERS"):
        load_edge_settings({"CLICKGATE_EDGE_WORKERS": "0"})


def test_control_plane_needs_a_master_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CLICKGATE_MASTER_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "control.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CLICKGATE_MASTER_KEY: required" in result.stderr


def test_the_shipping_backoff_cap_is_a_positive_setting() -> None:
    capped = load_edge_settings({"CLICKGATE_EDGE_SHIP_MAX_BACKOFF": "1.5"}).ship_max_backoff
    assert capped == 1.5
    assert max(backoff(20, capped) for _ in range(200)) <= 1.5  # 0.2 * 2**10 uncapped
    assert load_edge_settings({}).ship_max_backoff == 5.0
    with pytest.raises(SettingsError, match="CLICKGATE_EDGE_SHIP_MAX_BACKOFF"):
        load_edge_settings({"CLICKGATE_EDGE_SHIP_MAX_BACKOFF": "0"})


def test_the_largest_ship_batch_is_what_the_control_plane_takes() -> None:
    from control.rpc import MAX_BATCH
    from edge.settings import MAX_SHIP_BATCH

    assert MAX_SHIP_BATCH == MAX_BATCH
    assert load_edge_settings({"CLICKGATE_EDGE_SHIP_BATCH": str(MAX_BATCH)}).ship_batch == MAX_BATCH
