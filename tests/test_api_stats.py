"""The statistics API in process: exact numbers, pages, exports, 400s, tenant isolation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from control.api import clicks as clicks_api
from control.api.app import build_app, make_context
from control.db.migrate import upgrade
from control.settings import ControlSettings
from control.stats.aggregate import DIMENSIONS
from control.tenants import create_api_key, create_tenant
from tests import stats_data as data
from tests.cluster import MASTER_KEY
from tests.stats_data import HOUR, T0, Sel

FROM, TO = "2026-03-26T23:00:00Z", "2026-04-01T00:00:00Z"
FROM_MS, TO_MS = T0 - HOUR, T0 + 5 * 24 * HOUR
ENDPOINTS = [
    "/v1/stats/overview",
    "/v1/stats/timeseries",
    *(f"/v1/stats/{d}" for d in DIMENSIONS),
    "/v1/clicks",
    "/v1/clicks/export",
    "/v1/clicks/export?format=csv",
    "/v1/messages/m1/timeline",
]


@dataclass
class Api:
    client: TestClient[Litestar]
    tenants: dict[str, int]
    keys: dict[str, str]
    specs: list[data.Spec]
    sent: list[data.Sent]

    def get(self, path: str, who: str = "acme", /, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return self.client.get(path, params=params, headers=headers)

    def ok(self, path: str, who: str = "acme", /, **params: Any) -> Any:
        response = self.get(path, who, **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    settings = ControlSettings(database_url=database_url, click_port=0, master_key=MASTER_KEY)
    ctx = make_context(settings)
    upgrade(ctx.engine)
    tenants, keys = {}, {}
    with ctx.sessions.begin() as session:
        for name in ("acme", "globex"):
            tenants[name] = create_tenant(session, ctx.sealer, name).id
            keys[name] = create_api_key(session, tenants[name])
    specs = data.generate((tenants["acme"], tenants["globex"]))
    sent = data.sent((tenants["acme"], tenants["globex"]))
    with ctx.sessions.begin() as session:
        data.record(session, sent)
        data.insert(session, specs)
    with TestClient(build_app(ctx, with_grpc=False)) as client:
        yield Api(client, tenants, keys, specs, sent)
    ctx.engine.dispose()


def sel(api: Api, who: str = "acme", **kw: Any) -> Sel:
    return Sel(api.tenants[who], FROM_MS, TO_MS, **kw)


@pytest.mark.parametrize("who", ["acme", "globex"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"bots": "include"},
        {"bots": "only"},
        {"tag": "news"},
        {"domain": "links.acme.test"},
        {"stream": "outbound"},
        {"stream": "broadcast", "tag": "news", "bots": "include"},
    ],
)
def test_overview_is_exact(api: Api, who: str, filters: dict[str, str]) -> None:
    body = api.ok("/v1/stats/overview", who, **{"from": FROM, "to": TO}, **filters)
    assert body.pop("from_ms") == FROM_MS and body.pop("to_ms") == TO_MS
    rate = body.pop("click_rate")
    assert body == data.overview(api.specs, sel(api, who, **filters), api.sent)
    assert body["messages_sent"] > 0
    assert rate == round(body["unique_messages"] / body["messages_sent"], 6)


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_breakdowns_are_exact_and_limited(api: Api, dimension: str) -> None:
    for who, filters in (("acme", {}), ("globex", {}), ("acme", {"stream": "outbound"})):
        params = {"from": FROM, "to": TO, "limit": 1000, **filters}
        body = api.ok(f"/v1/stats/{dimension}", who, **params)
        got = [((r["key"],), r["total"], r["unique"]) for r in body["rows"]]
        assert got == data.breakdown(api.specs, sel(api, who, **filters), dimension)
    top = api.ok(f"/v1/stats/{dimension}", **{"from": FROM, "to": TO, "limit": 1})["rows"]
    assert len(top) == 1


def test_country_detail(api: Api) -> None:
    body = api.ok("/v1/stats/country", **{"from": FROM, "to": TO, "detail": "city"})
    got = [((r["key"], r["region"], r["city"]), r["total"], r["unique"]) for r in body["rows"]]
    assert got == data.breakdown(api.specs, sel(api), "country", detail=True)


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_timeseries_in_berlin(api: Api, interval: str) -> None:
    params = {"from": "2026-03-27", "to": "2026-03-31", "tz": "Europe/Berlin", "interval": interval}
    body = api.ok("/v1/stats/timeseries", **params)
    q = Sel(api.tenants["acme"], body["from_ms"], body["to_ms"])
    nonempty = {b["start"]: [b["total"], b["unique"]] for b in body["buckets"] if b["total"]}
    assert nonempty == data.buckets(api.specs, q, ZoneInfo("Europe/Berlin"), interval)
    starts = [b["start"] for b in body["buckets"]]
    if interval == "day":
        assert starts[0] == "2026-03-27T00:00:00+01:00" and len(starts) == 5
        assert "2026-03-30T00:00:00+02:00" in starts
    else:
        assert len(starts) == 5 * 24 - 1  # 29 March has 23 hours in Berlin


def walk(api: Api, who: str, **params: Any) -> list[dict[str, Any]]:
    clicks: list[dict[str, Any]] = []
    cursor = None
    while True:
        extra: dict[str, Any] = {"cursor": cursor} if cursor else {}
        body = api.ok("/v1/clicks", who, **{"from": FROM, "to": TO, "limit": 17}, **params, **extra)
        clicks += body["clicks"]
        cursor = body["next_cursor"]
        if cursor is None:
            return clicks


def test_raw_pages_and_exports_agree(api: Api) -> None:
    clicks = walk(api, "acme")
    expected = data.select(api.specs, sel(api, bots="include"))
    assert [c["click_id"] for c in clicks] == [f"{s.id:032x}" for s in expected]
    assert clicks[0]["client"]["browser"] == expected[0].browser[0]
    ndjson = api.get("/v1/clicks/export", **{"from": FROM, "to": TO})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in ndjson.text.splitlines()] == clicks
    response = api.get("/v1/clicks/export", **{"from": FROM, "to": TO, "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["click_id"] for r in rows] == [c["click_id"] for c in clicks]
    assert rows[0]["browser"] == clicks[0]["client"]["browser"]
    assert json.loads(rows[0]["tags"]) == clicks[0]["tags"]
    header = response.text.split("\r\n", 1)[0].split(",")
    assert header[:3] == ["click_id", "time", "time_ms"] and header[-2:] == ["message_id", "stream"]
    assert [r["message_id"] for r in rows] == [c["message_id"] for c in clicks]
    assert [r["stream"] for r in rows] == [c["stream"] for c in clicks]
    humans = walk(api, "acme", bots="exclude")
    assert len(humans) == len([s for s in expected if not s.is_bot])


def test_raw_clicks_filter_by_stream(api: Api) -> None:
    clicks = walk(api, "acme", stream="outbound")
    expected = data.select(api.specs, sel(api, bots="include", stream="outbound"))
    assert [c["click_id"] for c in clicks] == [f"{s.id:032x}" for s in expected]
    assert expected and {s.message_id for s in expected} == {"m1", "m2"}


def test_domain_and_stream_filters_ignore_case_as_the_rest_of_the_api(api: Api) -> None:
    """Streams and domains are named in any case elsewhere; a filter finds them too."""
    window = {"from": FROM, "to": TO}
    exact = api.ok("/v1/stats/overview", domain="links.acme.test", stream="outbound", **window)
    assert exact["total_clicks"] > 0
    cased = api.ok("/v1/stats/overview", domain="Links.ACME.test.", stream="OutBound", **window)
    assert cased == exact
    raw = walk(api, "acme", domain="LINKS.acme.test", stream=" Outbound")
    assert raw == walk(api, "acme", domain="links.acme.test", stream="outbound") and raw


def test_message_timeline(api: Api) -> None:
    body = api.ok("/v1/messages/m2/timeline")
    mine = sorted(
        (s for s in api.specs if s.tenant_id == api.tenants["acme"] and s.message_id == "m2"),
        key=lambda s: (s.time_ms, s.id),
    )
    assert [c["click_id"] for c in body["clicks"]] == [f"{s.id:032x}" for s in mine]
    assert body["total_clicks"] == len(mine)
    assert body["bot_clicks"] == sum(s.is_bot for s in mine)
    assert body["clicks"][0]["bot_reasons"] in ([], ["known_bot_ua"])
    first = api.ok("/v1/messages/m2/timeline", limit=5)
    assert len(first["clicks"]) == 5
    rest = api.ok("/v1/messages/m2/timeline", cursor=first["next_cursor"], limit=1000)
    assert first["clicks"] + rest["clicks"] == body["clicks"]


def test_message_clicks_say_when_they_stop_short(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = sorted(
        (s for s in api.specs if s.tenant_id == api.tenants["acme"] and s.message_id == "m2"),
        key=lambda s: (s.time_ms, s.id),
    )
    whole = api.ok("/v1/messages/m2/clicks")
    assert whole["truncated"] is False
    assert [c["click_id"] for c in whole["clicks"]] == [f"{s.id:032x}" for s in mine]
    assert {c["message_id"] for c in whole["clicks"]} == {"m2"}
    monkeypatch.setattr(clicks_api, "MESSAGE_CLICKS_MAX", len(mine) - 1)
    cut = api.ok("/v1/messages/m2/clicks")
    assert cut["truncated"] is True
    assert cut["clicks"] == whole["clicks"][:-1]


def test_tenants_never_see_each_other(api: Api) -> None:
    """globex's key sees only globex's clicks, on every endpoint."""
    theirs = {f"{s.id:032x}" for s in api.specs if s.tenant_id == api.tenants["acme"]}
    ours = {f"{s.id:032x}" for s in api.specs if s.tenant_id == api.tenants["globex"]}
    assert theirs and ours
    seen = {c["click_id"] for c in walk(api, "globex")}
    assert seen == ours
    export = api.get("/v1/clicks/export", "globex", **{"from": FROM, "to": TO}).text
    assert {json.loads(line)["click_id"] for line in export.splitlines()} == ours
    csv_export = api.get("/v1/clicks/export", "globex", **{"from": FROM, "to": TO, "format": "csv"})
    assert {r["click_id"] for r in csv.DictReader(io.StringIO(csv_export.text))} == ours
    for message_id in ("m1", "m2", ""):
        clicks = api.ok(f"/v1/messages/{message_id or '%20'}/timeline", "globex")["clicks"]
        assert {c["click_id"] for c in clicks} <= ours
    series = api.ok("/v1/stats/timeseries", "globex", **{"from": FROM, "to": TO})
    assert sum(b["total"] for b in series["buckets"]) == len(
        data.select(api.specs, sel(api, "globex"))
    )
    # Overview and breakdowns: compared exactly per tenant in the tests above.
    stranger = api.ok("/v1/messages/only-acme/timeline", "globex")
    assert stranger["clicks"] == [] and stranger["links"] == []


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_needs_a_key(api: Api, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/v1/stats/overview", {"from": "yesterday"}, "from"),
        ("/v1/stats/overview", {"to": "2026-02-30"}, "to"),
        ("/v1/stats/overview", {"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ("/v1/stats/overview", {"from": "2026-03-02T00:00:00"}, "from"),
        ("/v1/stats/overview", {"bots": "maybe"}, "bots"),
        # Day buckets past year 9999 overflowed in Python: named, not "a number".
        (
            "/v1/stats/timeseries",
            {"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T00:00:00Z", "tz": "Etc/GMT-14"},
            "to",
        ),
        ("/v1/stats/overview", {"tz": "Mars/Base"}, "tz"),
        ("/v1/stats/overview", {"tag": ""}, "tag"),
        ("/v1/stats/overview", {"tag": "a\x00b"}, "tag"),
        ("/v1/stats/overview", {"domain": "x" * 254}, "domain"),
        ("/v1/stats/overview", {"stream": ""}, "stream"),
        ("/v1/messages/a%00b/timeline", {}, "message_id"),
        ("/v1/stats/browser", {"limit": "0"}, "limit"),
        ("/v1/stats/browser", {"limit": "1001"}, "limit"),
        ("/v1/stats/browser", {"limit": "many"}, "limit"),
        ("/v1/stats/country", {"detail": "street"}, "detail"),
        ("/v1/stats/shoe_size", {}, "dimension"),
        ("/v1/stats/timeseries", {"interval": "week"}, "interval"),
        ("/v1/stats/timeseries", {"interval": "hour", "from": "2020-01-01"}, "interval"),
        ("/v1/clicks", {"cursor": "not-a-cursor"}, "cursor"),
        ("/v1/clicks/export", {"format": "xlsx"}, "format"),
        ("/v1/messages/m1/timeline", {"cursor": "WzIsMSwxXQ"}, "cursor"),
        # Given twice: the last one used to be counted alone, with a 200.
        ("/v1/stats/overview", {"tag": ["news", "promo"]}, "tag"),
        ("/v1/clicks", {"from": ["2026-01-01", "2026-02-01"]}, "from"),
        ("/v1/stats/browser", {"limit": ["5", "6"]}, "limit"),
        ("/v1/stats/timeseries", {"interval": ["day", "day"]}, "interval"),
        # Empty, as a template leaves it: the default was used, unlike an empty tag.
        ("/v1/stats/overview", {"tz": ""}, "tz"),
        ("/v1/stats/overview", {"from": ""}, "from"),
        ("/v1/clicks", {"to": ""}, "to"),
        # ISO 8601 forms that are not RFC 3339 were read by fromisoformat.
        ("/v1/stats/overview", {"from": "20260101"}, "from"),
        ("/v1/stats/overview", {"from": "2026-W01-1"}, "from"),
        ("/v1/stats/overview", {"to": "2026-03-02T10Z"}, "to"),
        ("/v1/stats/overview", {"to": "2026-03-02T10:00:00+0100"}, "to"),
    ],
)
def test_bad_parameters_are_clear_400s(
    api: Api, path: str, params: dict[str, Any], name: str
) -> None:
    response = api.get(path, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] in ("bad_request", "invalid_parameter")
    assert error["message"].startswith(f"{name}:"), error


def test_openapi_documents_the_endpoints(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    for path in (
        "/v1/stats/overview",
        "/v1/stats/{dimension}",
        "/v1/stats/timeseries",
        "/v1/clicks",
        "/v1/clicks/export",
        "/v1/messages/{message_id}/timeline",
    ):
        assert "get" in doc["paths"][path], path
    schemas = doc["components"]["schemas"]
    assert {"OverviewOut", "BreakdownOut", "SeriesOut", "ClickPage", "TimelineOut"} <= set(schemas)
    params = {p["name"] for p in doc["paths"]["/v1/stats/overview"]["get"]["parameters"]}
    assert {"from", "to", "tag", "domain", "bots", "tz", "stream"} <= params
