"""`serve` (the reviewers' workspace) and `users add|list|disable|token` (its accounts)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from config.errors import IntakeError, StorageError
from config.settings import Settings
from intake.runtime import database_url
from storage.db import Database, upgrade
from storage.models import WebUser
from storage.users import (
    add_audit,
    add_user,
    disable_user,
    issue_token,
    list_users,
    user_by_name,
)

MIN_PASSWORD = 12


class UsersError(IntakeError):
    """An account could not be added or changed as asked."""


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the workspace until stopped (host and port from [web] unless given)."""
    import uvicorn

    from intake.web.app import create_app
    from intake.web.context import open_workspace

    workspace = open_workspace(settings)
    host, port = args.host or settings.web.host, args.port or settings.web.port
    print(f"workspace listening on http://{host}:{port}/", file=sys.stderr, flush=True)
    try:
        # Proxy headers are read by the workspace itself, from the trusted proxies only.
        uvicorn.run(create_app(workspace), host=host, port=port, proxy_headers=False,
                    log_level="warning", server_header=False)
    finally:
        workspace.close()
    return 0


def _password(args: argparse.Namespace) -> str:
    """Read the new password from --password-file or, twice, from the terminal."""
    if args.password_file is not None:
        try:
            password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsersError(f"cannot read the password file {args.password_file}: "
                             f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsersError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    """Add, list or disable workspace accounts, or issue an API token."""
    url = database_url(settings)
    settings.general.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    database = Database.open(url)
    actor = f"{getpass.getuser()} (command line)"
    try:
        if args.action == "list":
            with database.session() as s:
                for user in list_users(s):
                    state = "disabled" if user.disabled else "enabled"
                    seen = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
                    print(f"{user.name}\t{user.role}\t{state}\tlast login {seen}")
            return 0
        if not args.name:
            raise UsersError(f"users {args.action} needs an account NAME")
        if args.action == "add":
            from intake.web.auth import hash_password

            password_hash = hash_password(_password(args))
            with database.session() as s:
                add_user(s, args.name, args.role, password_hash)
                add_audit(s, actor, "user_added", "", {"name": args.name, "role": args.role})
            print(f"account {args.name} added ({args.role})")
            return 0
        with database.session() as s:
            user = _user(s, args.name)
            if args.action == "disable":
                disable_user(s, user)
                add_audit(s, actor, "user_disabled", "", {"name": args.name})
                print(f"account {args.name} disabled: its sessions and tokens are ended")
                return 0
            token = issue_token(s, user)
            add_audit(s, actor, "token_issued", "", {"name": args.name})
        print(token)
        print(f"API token of {args.name}: shown once, earlier tokens revoked", file=sys.stderr)
        return 0
    except StorageError as exc:
        raise UsersError(str(exc)) from exc
    finally:
        database.dispose()


def _user(s: Session, name: str) -> WebUser:
    """Return an account by name, or raise UsersError."""
    user = user_by_name(s, name)
    if user is None:
        raise UsersError(f"no account named {name!r}")
    return user
