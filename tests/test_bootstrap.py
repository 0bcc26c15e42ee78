"""`clickgate migrate` with a bootstrap tenant and API key (the Kubernetes migration Job)."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.cli import main
from control.db.engine import make_engine, make_sessionmaker
from control.domains import domain_for, register_domain
from control.tenants import authenticate, find_tenant
from tests.cluster import MASTER_KEY

KEY = "cg_0123456789ab_bootstrap-secret-of-the-operator"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CLICKGATE_DATABASE_URL", url)
    monkeypatch.setenv("CLICKGATE_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("CLICKGATE_BOOTSTRAP_TENANT", "acme")
    monkeypatch.setenv("CLICKGATE_BOOTSTRAP_API_KEY", KEY)
    monkeypatch.setenv("CLICKGATE_BOOTSTRAP_DOMAIN", "Click.Acme.Test")
    return url


def test_migrate_bootstraps_once_and_the_key_works(env: str) -> None:
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0  # every release runs the Job again: nothing changes
    engine = make_engine(env)
    with make_sessionmaker(engine)() as session:
        tenant = find_tenant(session, "acme")
        assert authenticate(session, KEY) == tenant.id
        assert domain_for(session, tenant.id, None).name == "click.acme.test"
        assert authenticate(session, KEY[:-1] + "x") is None
    engine.dispose()


def test_a_key_of_another_tenant_is_never_moved(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    monkeypatch.setenv("CLICKGATE_BOOTSTRAP_TENANT", "other")
    assert main(["migrate"]) == 1
    assert "already in use" in capsys.readouterr().err
    monkeypatch.setenv("CLICKGATE_BOOTSTRAP_API_KEY", KEY.replace("0123", "4567"))
    assert main(["migrate"]) == 1  # the domain is acme's
    assert "already registered" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLICKGATE_BOOTSTRAP_API_KEY", "not-a-key"),
        ("CLICKGATE_BOOTSTRAP_API_KEY", "cg_0123456789ab_short"),
        ("CLICKGATE_BOOTSTRAP_TENANT", " "),
    ],
)
def test_bad_bootstrap_settings_name_the_variable(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["migrate"]) == 2
    assert variable in capsys.readouterr().err


def test_mint_refuses_what_the_api_refuses_with_a_message(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["mint", "acme", "https://example.com/a", "--message-id", "m1"]) == 0
    assert capsys.readouterr().out.startswith("https://click.acme.test/")
    assert main(["mint", "acme", "https://example.com/a", "--message-id", "m" * 201]) == 1
    assert "message_id" in capsys.readouterr().err
    engine = make_engine(env)
    with make_sessionmaker(engine).begin() as session:
        register_domain(session, find_tenant(session, "acme").id, "links.brand.test")
    engine.dispose()
    assert main(["mint", "acme", "https://example.com/a", "--domain", "links.brand.test"]) == 1
    assert "not verified yet" in capsys.readouterr().err
