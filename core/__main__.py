"""Command line: `python -m core migrate | create-user | seed-demo | import | run | redis`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from core.config import Settings, load_settings
from core.db import Database
from core.errors import LeadRelayError

DEMO_USERS = (("admin", "admin-demo-pass", "admin"), ("analyst", "analyst-demo-pass", "analyst"))


def _db(settings: Settings) -> Database:
    return Database(settings.effective_database_url)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from core.schema import migrate

    migrate(_db(settings))
    print("database is up to date")
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from core import auth

    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            print("The passwords differ.", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    with _db(settings).write() as session:
        user = auth.create_user(session, args.name, password, args.role)
        print(f"created {user.role} {user.name!r} (id {user.id})")
    return 0


def cmd_seed_demo(settings: Settings, _args: argparse.Namespace) -> int:
    from core import auth

    if not settings.sandbox_mode:
        print("not in sandbox mode: no demo users created")
        return 0
    with _db(settings).write() as session:
        for name, password, role in DEMO_USERS:
            if auth.user_by_name(session, name) is None:
                auth.create_user(session, name, password, role)
    print("demo sign-ins (sandbox mode only):")
    for name, password, role in DEMO_USERS:
        print(f"  {role:8} user {name!r:12} password {password!r}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from core import auth, intake

    data = Path(args.file).read_bytes()
    with _db(settings).write() as session:
        owner = auth.user_by_name(session, args.owner)
        if owner is None:
            print(f"No user named {args.owner!r}.", file=sys.stderr)
            return 2
        result = intake.import_file(
            session,
            settings,
            owner,
            data,
            Path(args.file).name,
            sheet=args.sheet,
            batch_size=args.batch_size or settings.default_batch_size,
            include_recent=args.include_recent,
        )
    print(f"job {result.job.id}")
    for key, value in result.summary.items():
        print(f"  {key}: {value}")
    from core.doorbell import HueyDoorbell, build_huey

    HueyDoorbell(build_huey(settings)).dispatch()
    return 0


def cmd_redis(settings: Settings, _args: argparse.Namespace) -> int:
    from core.redis_server import command

    argv = command(settings.redis_port, settings.data_dir / "redis", settings.host)
    os.execv(argv[0], argv)
    return 0  # pragma: no cover


def cmd_run(settings: Settings, _args: argparse.Namespace) -> int:
    from core.processes import EventFeed, Supervisor, process_specs

    cmd_migrate(settings, _args)
    cmd_seed_demo(settings, _args)
    print(f"LeadRelay: open http://{settings.host}:{settings.streamlit_port}  (Ctrl-C stops everything)", flush=True)
    supervisor = Supervisor(
        process_specs(settings),
        cwd=Path(__file__).resolve().parent.parent,
        env=dict(os.environ),
        feed=EventFeed(_db(settings)).poll,
    )
    return supervisor.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description="LeadRelay command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    p = sub.add_parser("create-user", help="add a user (password from a prompt or standard input)")
    p.add_argument("name")
    p.add_argument("--role", choices=["analyst", "admin"], default="analyst")
    sub.add_parser("seed-demo", help="create the demo admin and analyst (sandbox mode only)")
    p = sub.add_parser("import", help="import a lead file as a job and print its validation summary")
    p.add_argument("file")
    p.add_argument("--owner", required=True)
    p.add_argument("--sheet")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--include-recent", action="store_true", help="send leads enriched recently again")
    sub.add_parser("redis", help="run the embedded Redis-compatible server in the foreground")
    sub.add_parser("run", help="migrate, then start every process under one manager")
    args = parser.parse_args(argv)
    handlers = {
        "migrate": cmd_migrate, "create-user": cmd_create_user, "seed-demo": cmd_seed_demo, "import": cmd_import,
        "redis": cmd_redis, "run": cmd_run,
    }  # fmt: skip
    try:
        settings = load_settings()
        return handlers[args.command](settings, args)
    except LeadRelayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
