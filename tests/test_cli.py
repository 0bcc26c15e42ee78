"""Operator commands of `clickgate` that act on the database directly."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.cli import main
from control.db.engine import make_engine, make_sessionmaker
from control.db.models import ConfigRevision
from control.domains import register_domain
from control.tenants import authenticate, find_tenant
from tests.cluster import MASTER_KEY


def current_revision(session: Session) -> int:
    return session.scalar(select(ConfigRevision.revision).where(ConfigRevision.id == 1)) or 0


@pytest.fixture
def migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's settings pointed at a fresh SQLite database, migrated; its URL."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CLICKGATE_DATABASE_URL", url)
    monkeypatch.setenv("CLICKGATE_MASTER_KEY", MASTER_KEY)
    assert main(["migrate"]) == 0
    return url


def test_domain_remove_frees_a_name_held_by_any_tenant(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    assert main(["tenant", "create", "old", "--domain", "click.old.test"]) == 0
    assert main(["tenant", "create", "new"]) == 0
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        register_domain(session, find_tenant(session, "old").id, "go.brand.test")
        before = current_revision(session)
    capsys.readouterr()

    assert main(["domain", "remove", "Go.Brand.Test."]) == 0
    assert capsys.readouterr().out.startswith("removed go.brand.test (tenant ")
    assert main(["domain", "remove", "go.brand.test"]) == 1
    assert "no click domain 'go.brand.test'" in capsys.readouterr().err
    # The name is free for its new owner, and edges drop it at the next revision.
    assert main(["domain", "add", "new", "go.brand.test"]) == 0
    with sessions() as session:
        assert current_revision(session) > before
    engine.dispose()


@pytest.mark.parametrize("command", ["control", "up"])
def test_servers_refuse_a_broken_regex_engine_before_starting(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from control.rewrite import scan

    def broken() -> None:
        raise scan.RegexEngineBroken("run clickgate on CPython 3.11.5 or later")

    def must_not_start(*args: object) -> None:
        raise AssertionError("a server started on a broken regex engine")

    monkeypatch.setattr(scan, "check_engine", broken)
    monkeypatch.setattr("control.servers.serve_control", must_not_start)
    monkeypatch.setattr("control.up.run_up", must_not_start)
    assert main([command]) == 2
    assert "clickgate: run clickgate on CPython 3.11.5 or later" in capsys.readouterr().err


def test_a_tenant_is_named_unambiguously_and_odd_references_are_no_traceback(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`apikey create 1` takes tenant id 1: a tenant named "1" would get another's key."""
    assert main(["tenant", "create", "acme"]) == 0
    for name in ("2", " 42 ", "", "   "):
        capsys.readouterr()
        assert main(["tenant", "create", name]) == 1, name
        assert "tenant name" in capsys.readouterr().err
    assert main(["tenant", "create", "²"]) == 0  # not an id: a name like any other
    capsys.readouterr()
    assert main(["apikey", "create", "²"]) == 0
    assert capsys.readouterr().out.startswith("cg_")
    for ref in ("99999999999999999999999", "9223372036854775808"):
        assert main(["apikey", "create", ref]) == 1
        assert f"no tenant '{ref}'" in capsys.readouterr().err


def test_revoking_a_whole_key_with_a_wrong_secret_revokes_nothing(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped secret used to revoke whichever key had the prefix."""
    sessions = make_sessionmaker(make_engine(migrated))
    assert main(["tenant", "create", "acme"]) == 0
    capsys.readouterr()
    assert main(["apikey", "create", "acme"]) == 0
    key = capsys.readouterr().out.strip()
    prefix = "_".join(key.split("_", 2)[:2])  # a secret may hold "_" itself
    assert main(["apikey", "revoke", f"{prefix}_not-the-secret"]) == 1
    assert "another secret" in capsys.readouterr().err
    with sessions() as session:
        assert authenticate(session, key) is not None, "the real key still works"
    assert main(["apikey", "revoke", key]) == 0  # whole and right
    assert main(["apikey", "revoke", prefix]) == 0  # or by prefix: revoked already, fine
    with sessions() as session:
        assert authenticate(session, key) is None


def test_the_edge_refuses_a_data_dir_it_cannot_write_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[str] = []
    monkeypatch.setattr("control.servers.serve_edge", lambda s: started.append(s.data_dir))
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("CLICKGATE_EDGE_DATA_DIR", str(not_a_dir / "edge"))
    assert main(["edge"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clickgate: bad setting: CLICKGATE_EDGE_DATA_DIR: cannot write")
    assert "Traceback" not in err and started == []

    fresh = tmp_path / "new" / "edge"
    monkeypatch.setenv("CLICKGATE_EDGE_DATA_DIR", str(fresh))
    assert main(["edge"]) == 0
    assert started == [str(fresh)] and (fresh / "journal").is_dir()
    assert list((fresh / "journal").iterdir()) == []  # the write test leaves nothing behind
