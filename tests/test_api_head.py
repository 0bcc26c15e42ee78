"""HEAD on the control plane's API: a GET's status and headers, without its body."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient

from control.api.app import build_app, make_context
from control.api.head import head_as_get
from control.db.migrate import upgrade
from control.settings import ControlSettings
from tests.cluster import MASTER_KEY


def test_head_answers_as_get_without_the_body(tmp_path: Path) -> None:
    settings = ControlSettings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}", click_port=0, master_key=MASTER_KEY
    )
    ctx = make_context(settings)
    upgrade(ctx.engine)
    with TestClient(head_as_get(build_app(ctx, with_grpc=False))) as client:
        for path in ("/healthz", "/openapi.json", "/v1/streams", "/no/such/route"):
            got, head = client.get(path), client.head(path)
            assert head.status_code == got.status_code, path
            assert head.headers["content-length"] == got.headers["content-length"], path
            assert head.headers["content-type"] == got.headers["content-type"], path
            assert got.content and head.content == b"", path
        # A route without GET stays a 405, as a GET to it would be.
        assert client.head("/v1/links").status_code == client.get("/v1/links").status_code == 405
        assert client.post("/v1/links").status_code == 401  # other methods untouched


def test_a_405_says_which_methods_the_path_has(tmp_path: Path) -> None:
    """RFC 9110 requires Allow on a 405; the error handler dropped Litestar's."""
    settings = ControlSettings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}", click_port=0, master_key=MASTER_KEY
    )
    with TestClient(build_app(make_context(settings), with_grpc=False)) as client:
        refused = client.put("/v1/tenant")
        assert refused.status_code == 405
        assert refused.json()["error"]["code"] == "method_not_allowed"
        assert {"GET", "PATCH"} <= {m.strip() for m in refused.headers["allow"].split(",")}
