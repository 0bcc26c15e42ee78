"""The `clickgate` command: up, edge, control, migrate, tenant, apikey, domain, mint, ..."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from control.settings import ControlSettings, load_control_settings
from edge.envconfig import SettingsError
from edge.settings import load_edge_settings, prepare_data_dir

if TYPE_CHECKING:  # only for annotations: `clickgate edge` never loads SQLAlchemy
    from sqlalchemy.orm import Session, sessionmaker


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except SettingsError as exc:
        print(f"clickgate: bad setting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clickgate", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="control plane + one edge on loopback, with a demo tenant")
    up.add_argument("--data-dir", default="var")
    up.add_argument("--api-port", type=int, default=8000)
    up.add_argument("--edge-port", type=int, default=8080)
    up.add_argument("--grpc-port", type=int, default=50051)
    up.add_argument("--metrics-port", type=int, default=9102)
    up.add_argument("--database-url", default=None, help="default: SQLite in the data dir")
    up.set_defaults(handler=cmd_up)

    sub.add_parser("edge", help="run the redirect edge").set_defaults(handler=cmd_edge)
    sub.add_parser(
        "replay-rejected", help="send the clicks an edge set aside to the control plane again"
    ).set_defaults(handler=cmd_replay_rejected)
    sub.add_parser("control", help="run the control plane").set_defaults(handler=cmd_control)
    sub.add_parser("migrate", help="migrate the database").set_defaults(handler=cmd_migrate)

    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(required=True)
    create = tenant.add_parser("create", help="create a tenant; prints its id and an API key")
    create.add_argument("name")
    create.add_argument("--domain", help="also register this click domain as its default")
    create.set_defaults(handler=cmd_tenant_create)

    apikey = sub.add_parser("apikey", help="manage API keys").add_subparsers(required=True)
    key_create = apikey.add_parser("create", help="new API key for a tenant (id or name)")
    key_create.add_argument("tenant")
    key_create.set_defaults(handler=cmd_apikey_create)
    key_revoke = apikey.add_parser("revoke", help="revoke an API key (the key or its prefix)")
    key_revoke.add_argument("key")
    key_revoke.set_defaults(handler=cmd_apikey_revoke)

    domain = sub.add_parser("domain", help="manage click domains").add_subparsers(required=True)
    domain_add = domain.add_parser("add", help="register a click domain for a tenant")
    domain_add.add_argument("tenant")
    domain_add.add_argument("name")
    domain_add.add_argument("--default", action="store_true")
    domain_add.set_defaults(handler=cmd_domain_add)
    domain_remove = domain.add_parser(
        "remove", help="remove a click domain, whichever tenant holds it (edges stop serving it)"
    )
    domain_remove.add_argument("name")
    domain_remove.set_defaults(handler=cmd_domain_remove)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(required=True)
    keys_rotate = keys.add_parser("rotate", help="publish a new key; active once edges hold it")
    keys_rotate.add_argument("tenant")
    keys_rotate.set_defaults(handler=cmd_keys_rotate)
    keys_list = keys.add_parser("list", help="a tenant's keys and their states")
    keys_list.add_argument("tenant")
    keys_list.set_defaults(handler=cmd_keys_list)

    mint = sub.add_parser("mint", help="print a tracked URL for a tenant")
    mint.add_argument("tenant")
    mint.add_argument("url")
    mint.add_argument("--message-id")
    mint.add_argument("--domain")
    mint.set_defaults(handler=cmd_mint)
    return parser


def cmd_edge(_: argparse.Namespace) -> int:
    from control.servers import serve_edge

    settings = load_edge_settings()
    prepare_data_dir(settings)
    serve_edge(settings)
    return 0


def cmd_replay_rejected(_: argparse.Namespace) -> int:
    import msgspec

    from edge.replay import replay

    result = replay(load_edge_settings())
    print(msgspec.json.encode(result).decode())
    if result.error:
        print(f"clickgate: {result.error}; the unsent clicks stay set aside", file=sys.stderr)
        return 1
    return 0


def cmd_control(_: argparse.Namespace) -> int:
    from control.servers import serve_control

    if not _regex_engine_ok():
        return 2
    serve_control(load_control_settings())
    return 0


def _regex_engine_ok() -> bool:
    """Refuse, before any server starts, a Python whose re would make rewriting track nothing."""
    try:  # the import itself runs the check; on a broken engine it raises there
        from control.rewrite import scan

        scan.check_engine()
    except RuntimeError as exc:  # scan.RegexEngineBroken
        print(f"clickgate: {exc}", file=sys.stderr)
        return False
    return True


def cmd_migrate(_: argparse.Namespace) -> int:
    from control.db.engine import make_engine, make_sessionmaker
    from control.db.migrate import upgrade
    from control.tenants import Conflict, NotFound, create_tenant, find_tenant, store_api_key

    settings = load_control_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print("database is at the latest schema")
    if not settings.bootstrap_api_key:
        return 0
    # After the schema, in the same run: the Job that migrates also bootstraps, in order.
    try:
        with make_sessionmaker(engine).begin() as session:
            try:
                tenant = find_tenant(session, settings.bootstrap_tenant)
            except NotFound:
                tenant = create_tenant(session, settings.sealer, settings.bootstrap_tenant)
            added = store_api_key(session, tenant.id, settings.bootstrap_api_key)
            if settings.bootstrap_domain:
                _bootstrap_domain(session, tenant.id, settings.bootstrap_domain)
    except (Conflict, ValueError) as exc:
        print(f"clickgate: bootstrap: {exc}", file=sys.stderr)
        return 1
    print(f"bootstrap tenant {tenant.name}: API key {'added' if added else 'already in place'}")
    return 0


def _bootstrap_domain(session: Session, tenant_id: int, name: str) -> None:
    """The bootstrap tenant's default click domain, unless it has it already."""
    from control.domains import add_domain, normalize, tenant_domain
    from control.tenants import NotFound

    try:
        tenant_domain(session, tenant_id, normalize(name))
    except NotFound:
        add_domain(session, tenant_id, name, default=True)  # Conflict if another's


def cmd_up(args: argparse.Namespace) -> int:
    from control.up import run_up

    if not _regex_engine_ok():
        return 2
    return run_up(args)


def _session_factory(settings: ControlSettings) -> sessionmaker[Session]:
    from control.db.engine import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))


def cmd_tenant_create(args: argparse.Namespace) -> int:
    from control.domains import add_domain
    from control.tenants import Conflict, create_api_key, create_tenant

    settings = load_control_settings()
    sessions = _session_factory(settings)
    try:
        with sessions.begin() as session:
            tenant = create_tenant(session, settings.sealer, args.name)
            if args.domain:
                add_domain(session, tenant.id, args.domain, default=True)
            key = create_api_key(session, tenant.id)
    except (Conflict, ValueError) as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    print(f"tenant_id: {tenant.id}\napi_key: {key}")
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from control.tenants import NotFound, create_api_key, find_tenant

    sessions = _session_factory(load_control_settings())
    try:
        with sessions.begin() as session:
            key = create_api_key(session, find_tenant(session, args.tenant).id)
    except NotFound as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    print(key)
    return 0


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    from control.tenants import NotFound, revoke_api_key

    sessions = _session_factory(load_control_settings())
    try:
        with sessions.begin() as session:
            revoke_api_key(session, args.key)
    except NotFound as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    print("revoked")
    return 0


def cmd_domain_add(args: argparse.Namespace) -> int:
    from control.domains import add_domain
    from control.tenants import Conflict, NotFound, find_tenant

    sessions = _session_factory(load_control_settings())
    try:
        with sessions.begin() as session:
            domain = add_domain(
                session, find_tenant(session, args.tenant).id, args.name, args.default
            )
    except (Conflict, NotFound, ValueError) as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    print(domain.name)
    return 0


def cmd_domain_remove(args: argparse.Namespace) -> int:
    from control.domains import release_domain
    from control.tenants import NotFound

    sessions = _session_factory(load_control_settings())
    try:
        with sessions.begin() as session:
            host, tenant_id = release_domain(session, args.name)
    except NotFound as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    print(f"removed {host} (tenant {tenant_id})")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from control.keys import rotate
    from control.tenants import NotFound, find_tenant

    settings = load_control_settings()
    try:
        with _session_factory(settings).begin() as session:
            key = rotate(session, settings.sealer, find_tenant(session, args.tenant).id)
            print(f"key {key.id} published; it becomes active once every connected edge holds it")
    except NotFound as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from control.db.models import SigningKey
    from control.tenants import NotFound, find_tenant

    try:
        with _session_factory(load_control_settings())() as session:
            tenant = find_tenant(session, args.tenant)
            query = select(SigningKey).where(SigningKey.tenant_id == tenant.id)
            for key in session.scalars(query.order_by(SigningKey.id)):
                print(f"{key.id}\t{key.state}{' (pending)' if key.pending else ''}")
    except NotFound as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_mint(args: argparse.Namespace) -> int:
    import time

    import msgspec

    from control.domains import DomainNotReady
    from control.links import LinkRequest, mint_link
    from control.tenants import NotFound, find_tenant
    from edge.token import TokenError

    settings = load_control_settings()
    sessions = _session_factory(settings)
    fields = {"url": args.url, "message_id": args.message_id, "domain": args.domain}
    try:
        request = msgspec.convert(fields, LinkRequest)  # the API's checks, not just its type
        with sessions() as session:
            tenant = find_tenant(session, args.tenant)
            link = mint_link(session, settings, tenant.id, request, int(time.time()))
    except (NotFound, TokenError, DomainNotReady, msgspec.ValidationError) as exc:
        print(f"clickgate: {exc}", file=sys.stderr)
        return 1
    print(link.tracked_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
