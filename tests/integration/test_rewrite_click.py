"""End to end: rewrite a message through the API, click its HTML link at the edge, see it."""

from __future__ import annotations

import html
import re

import httpx

from tests.cluster import Cluster, wait_until

TEMPLATE = """<html><body>
<!--[if mso]><v:roundrect href="https://example.com/vml" style="x">Go</v:roundrect><![endif]-->
<a class="btn" href="https://example.com/offer?id=7&amp;ref=mail" data-clickgate-tags="cta:hero">
  Get the offer</a>
<a href="mailto:help@example.com">help</a>
</body></html>"""


def test_rewritten_html_link_is_clicked_and_attributed(cluster: Cluster) -> None:
    cluster.bootstrap()
    cluster.start_control()
    cluster.start_edge()
    response = cluster.api(
        "POST",
        "/v1/messages/rewrite",
        json={
            "message_id": "msg-rw-1",
            "recipient": "jane@example.com",
            "tags": ["welcome"],
            "html": TEMPLATE,
            "text": "Offer: https://example.com/offer?id=7&ref=mail",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(link["location"], link["skip_reason"]) for link in body["links"]] == [
        ("html", None),
        ("html", None),
        ("html", "scheme"),
        ("text", None),
    ]
    assert body["tracked_links"] == 3 and body["stream"] == "outbound"

    # Follow the hero link as it appears in the HTML a recipient receives.
    hrefs = re.findall(r'<a class="btn" href="([^"]+)"', body["html"])
    assert len(hrefs) == 1 and "data-clickgate-tags" not in body["html"]
    tracked = html.unescape(hrefs[0])
    assert tracked == body["links"][1]["tracked_url"]
    assert tracked.startswith(f"http://localhost:{cluster.edge_port}/example.com/")
    path = tracked.split(f":{cluster.edge_port}", 1)[1]
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/142.0 Safari/537.36"
    click = httpx.get(
        cluster.edge_url + path,
        headers={"Host": f"localhost:{cluster.edge_port}", "User-Agent": ua},
    )
    assert click.status_code == 302
    assert click.headers["location"] == "https://example.com/offer?id=7&ref=mail"

    clicks = wait_until(lambda: cluster.clicks("msg-rw-1"), 10, "the click in the API")
    assert len(clicks) == 1, cluster.logs()
    seen = clicks[0]
    assert seen["url"] == "https://example.com/offer?id=7&ref=mail"
    assert (seen["location"], seen["link_index"]) == ("html", 1)
    assert seen["tags"] == ["welcome", "cta:hero"]
    assert seen["recipient"].startswith("h:") and "jane" not in seen["recipient"]
