"""Edge side of custom domains: HTTP-01 answers from the snapshot, certificates to cert_dir."""

from __future__ import annotations

from pathlib import Path

from clickgate.v1 import config_pb2

from edge.certs import CertInstaller, haproxy_config, pem_bundle
from edge.config import EdgeConfig
from tests.edgekit import TENANT, app_for, call, make_state

CHALLENGE = "/.well-known/acme-challenge/tok_123"


def snapshot(**extra: object) -> config_pb2.ConfigSnapshot:
    return config_pb2.ConfigSnapshot(
        revision=7,
        domains=[config_pb2.ClickDomain(name="click.example", tenant_id=TENANT)],
        challenges=[
            config_pb2.AcmeChallenge(
                domain="click.example", token="tok_123", key_authorization="tok_123.thumb"
            ),
            config_pb2.AcmeChallenge(
                domain="unserved.example", token="tok_9", key_authorization="nope"
            ),
        ],
        **extra,  # type: ignore[arg-type]
    )


def test_challenge_answered_only_for_a_served_domain_and_its_token(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    state.set_config(EdgeConfig.from_snapshot(snapshot()))
    app = app_for(state)
    ok = call(app, CHALLENGE, host="Click.Example:80")
    assert ok.status == 200 and ok.body == b"tok_123.thumb"
    assert call(app, CHALLENGE, method="HEAD").body == b""
    assert call(app, CHALLENGE, host="other.example").status == 404
    assert call(app, "/.well-known/acme-challenge/tok_9", host="unserved.example").status == 404
    assert call(app, "/.well-known/acme-challenge/guess").status == 404


def test_certificates_for_unserved_domains_are_dropped() -> None:
    cert = config_pb2.TlsCertificate(domain="gone.example", chain_pem="x", private_key_pem=b"y")
    config = EdgeConfig.from_snapshot(snapshot(certificates=[cert]))
    assert config.certificates == () and config.https_only == frozenset()
    assert set(config.challenges) == {b"click.example/tok_123"}


def test_installer_writes_bundles_and_crt_list_without_haproxy(tmp_path: Path) -> None:
    cert = config_pb2.TlsCertificate(
        domain="click.example",
        chain_pem="-----BEGIN CERTIFICATE-----\nAAA\n\n-----END CERTIFICATE-----\n",
        private_key_pem=b"-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n",
    )
    installer = CertInstaller(str(tmp_path), "")
    installer.apply([cert], {"click.example"})
    assert (tmp_path / "https-only.map").read_text() == "click.example 1\n"
    bundle = (tmp_path / "click.example.pem").read_text()
    assert bundle == pem_bundle(cert) and "\n\n" not in bundle
    assert (tmp_path / "crt-list.txt").read_text() == f"{tmp_path}/click.example.pem\n"
    assert oct((tmp_path / "click.example.pem").stat().st_mode & 0o777) == "0o600"
    installer.apply([])
    assert not (tmp_path / "click.example.pem").exists()
    assert (tmp_path / "crt-list.txt").read_text() == ""


def test_reference_haproxy_config_is_tls12_plus_and_forwards_the_client() -> None:
    text = haproxy_config(
        http_bind="127.0.0.1:80",
        https_bind="127.0.0.1:443",
        edge="127.0.0.1:8080",
        default_pem="/etc/clickgate/default.pem",
        cert_dir="/var/lib/clickgate/certs",
        socket_path="/run/haproxy.sock",
    )
    assert "ssl-min-ver TLSv1.2" in text and "option forwardfor" in text
    assert "crt-list /var/lib/clickgate/certs/crt-list.txt" in text
    assert "redirect scheme https code 301" in text and "Strict-Transport-Security" in text
