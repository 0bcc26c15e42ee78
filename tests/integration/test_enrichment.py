"""Clicks are stored enriched: client, geography, bot verdicts; full IPs never stored."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy import text

from control.db.engine import make_engine
from tests.cluster import Cluster, wait_until
from tests.enrich.mmdb_fixture import ASN_RECORDS, GEO_RECORDS, write_db

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)


def configure(cluster: Cluster, tmp_path: Path) -> None:
    cluster.env["CLICKGATE_GEOIP_DB"] = str(
        write_db(tmp_path / "c.mmdb", GEO_RECORDS, "GeoLite2-City")
    )
    cluster.env["CLICKGATE_ASN_DB"] = str(
        write_db(tmp_path / "a.mmdb", ASN_RECORDS, "GeoLite2-ASN")
    )
    cluster.env["CLICKGATE_EDGE_TRUSTED_PROXIES"] = "127.0.0.0/8"


def click(cluster: Cluster, path: str, ip: str, ua: str, method: str = "GET") -> int:
    headers = {"Host": f"localhost:{cluster.edge_port}", "User-Agent": ua, "X-Forwarded-For": ip}
    return httpx.request(method, cluster.edge_url + path, headers=headers).status_code


def test_clicks_are_enriched_and_addresses_truncated(cluster: Cluster, tmp_path: Path) -> None:
    configure(cluster, tmp_path)
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    # One message each: three links of one message within seconds would be a burst.
    links = [cluster.mint(f"https://example.com/{n}", message_id=f"m-enrich-{n}") for n in range(3)]
    paths = [t.split(f":{cluster.edge_port}", 1)[1] for t in links]
    time.sleep(5.5)  # past the "too fast after sending" window
    assert click(cluster, paths[0], "203.0.113.77", CHROME_MAC) == 302
    assert click(cluster, paths[1], "2001:db8:1234:5678::9", IPHONE) == 302
    assert click(cluster, paths[2], "198.51.100.23", CHROME_MAC, method="HEAD") == 302

    def stored() -> list[dict[str, object]]:
        return [c for n in range(3) for c in cluster.clicks(f"m-enrich-{n}")]

    clicks = wait_until(lambda: len(stored()) == 3 and stored(), 10, "3 clicks")
    by_ip = {c["ip"]: c for c in clicks}
    assert set(by_ip) == {"203.0.113.0", "2001:db8:1234::", "198.51.100.0"}
    mac = by_ip["203.0.113.0"]
    assert (mac["geo"]["country"], mac["geo"]["city"], mac["geo"]["asn"]) == ("AU", "Sydney", 64496)
    assert (mac["client"]["browser"], mac["client"]["os"], mac["client"]["platform"]) == (
        "Chrome",
        "Mac OS X",
        "Desktop",
    )
    assert mac["is_bot"] is False and mac["bot_reasons"] == []
    phone = by_ip["2001:db8:1234::"]
    assert (phone["client"]["platform"], phone["geo"]["country"]) == ("Mobile", "NL")
    head = by_ip["198.51.100.0"]
    assert head["is_bot"] is True and "head_request" in head["bot_reasons"]

    engine = make_engine(cluster.env["CLICKGATE_DATABASE_URL"])
    with engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.execute(text("SELECT * FROM clicks")))
    engine.dispose()
    for full in ("203.0.113.77", "2001:db8:1234:5678", "198.51.100.23"):
        assert full not in dump
        assert full not in cluster.logs()


def test_a_scanner_walking_every_link_is_reclassified(cluster: Cluster, tmp_path: Path) -> None:
    configure(cluster, tmp_path)
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    links = [cluster.mint(f"https://example.com/{n}", message_id="m-burst") for n in range(4)]
    paths = [t.split(f":{cluster.edge_port}", 1)[1] for t in links]
    time.sleep(5.5)
    assert click(cluster, paths[0], "203.0.113.5", CHROME_MAC) == 302
    first = wait_until(lambda: cluster.clicks("m-burst"), 10, "first click")
    assert first[0]["is_bot"] is False  # alone, it looks human
    for path in paths[1:]:
        assert click(cluster, path, "203.0.113.5", CHROME_MAC) == 302
    clicks = wait_until(
        lambda: (
            (c := cluster.clicks("m-burst")) and len(c) == 4 and all(x["is_bot"] for x in c) and c
        ),
        10,
        "the burst reclassified",
    )
    assert all("burst" in c["bot_reasons"] for c in clicks)
