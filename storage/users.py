"""Workspace accounts, API tokens, login sessions, login attempts and the workspace audit.

Secrets never reach the database in clear: passwords are Argon2 hashes made by the caller,
tokens and session cookies are random and kept as their SHA-256 (a lookup key, not a
password: 256 random bits need no slow hash). None of these functions commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.errors import StorageError
from config.vocabulary import Role, names
from storage.db import storage_errors
from storage.events import json_ready
from storage.models import LoginAttempt, WebAudit, WebSession, WebToken, WebUser, utcnow

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    """Return the SHA-256 under which a token or session cookie is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """Return a new random token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


@storage_errors
def user_by_name(s: Session, name: str) -> WebUser | None:
    """Return the account with this name (exact: names are chosen by administrators)."""
    return s.scalars(select(WebUser).where(WebUser.name == name)).first()


@storage_errors
def add_user(s: Session, name: str, role: str, password_hash: str | None) -> WebUser:
    """Create an account; refuse an empty or taken name or an unknown role."""
    if role not in names(Role):
        raise StorageError(f"unknown role {role!r} (known: {', '.join(names(Role))})")
    if not name.strip() or name != name.strip():
        raise StorageError("an account name must be non-empty, without surrounding spaces")
    if user_by_name(s, name) is not None:
        raise StorageError(f"an account named {name!r} exists already")
    user = WebUser(name=name, role=role, password_hash=password_hash, disabled=False,
                   created_at=utcnow())
    s.add(user)
    s.flush()
    return user


@storage_errors
def list_users(s: Session) -> list[WebUser]:
    """Return every account, by name."""
    return list(s.scalars(select(WebUser).order_by(WebUser.name)))


@storage_errors
def disable_user(s: Session, user: WebUser) -> None:
    """Disable an account: its sessions end and its tokens are revoked at once."""
    now = utcnow()
    user.disabled = True
    for row in s.scalars(select(WebSession).where(WebSession.user_id == user.id,
                                                  WebSession.ended_at.is_(None))):
        row.ended_at = now
    for token in s.scalars(select(WebToken).where(WebToken.user_id == user.id,
                                                  WebToken.revoked_at.is_(None))):
        token.revoked_at = now
    s.flush()


@storage_errors
def issue_token(s: Session, user: WebUser) -> str:
    """Revoke the account's earlier API tokens and return a new one (shown once)."""
    now = utcnow()
    for old in s.scalars(select(WebToken).where(WebToken.user_id == user.id,
                                                WebToken.revoked_at.is_(None))):
        old.revoked_at = now
    token = new_token()
    s.add(WebToken(user_id=user.id, token_hash=token_hash(token), created_at=now))
    s.flush()
    return token


@storage_errors
def user_by_token(s: Session, token: str) -> WebUser | None:
    """Return the enabled account an API token belongs to, or None."""
    query = (select(WebUser).join(WebToken, WebToken.user_id == WebUser.id)
             .where(WebToken.token_hash == token_hash(token), WebToken.revoked_at.is_(None),
                    WebUser.disabled.is_(False)))
    return s.scalars(query).first()


@storage_errors
def start_session(s: Session, user: WebUser, address: str, lifetime: timedelta) -> str:
    """Open a login session; return the cookie value (only its hash is stored)."""
    token = new_token()
    now = utcnow()
    s.add(WebSession(user_id=user.id, token_hash=token_hash(token), address=address,
                     created_at=now, expires_at=now + lifetime))
    user.last_login_at = now
    s.flush()
    return token


@storage_errors
def session_user(s: Session, token: str, now: datetime) -> WebUser | None:
    """Return the enabled account of a live (not ended, not expired) session, or None."""
    query = (select(WebUser).join(WebSession, WebSession.user_id == WebUser.id)
             .where(WebSession.token_hash == token_hash(token), WebSession.ended_at.is_(None),
                    WebSession.expires_at > now, WebUser.disabled.is_(False)))
    return s.scalars(query).first()


@storage_errors
def end_session(s: Session, token: str) -> None:
    """End a session (logout); an unknown token is ignored."""
    row = s.scalars(select(WebSession).where(WebSession.token_hash == token_hash(token))).first()
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        s.flush()


@storage_errors
def record_login_attempt(s: Session, name: str, address: str, succeeded: bool) -> None:
    """Keep one login attempt."""
    s.add(LoginAttempt(name=name, address=address, at=utcnow(), succeeded=succeeded))
    s.flush()


@storage_errors
def failed_logins_since(s: Session, name: str, address: str,
                        since: datetime) -> tuple[int, int]:
    """Return the failed attempts since a time: for this name, and from this address."""
    recent = LoginAttempt.at >= since
    failed = LoginAttempt.succeeded.is_(False)
    by_name = s.scalar(select(func.count()).where(recent, failed, LoginAttempt.name == name))
    by_address = s.scalar(select(func.count()).where(recent, failed,
                                                     LoginAttempt.address == address))
    return int(by_name or 0), int(by_address or 0)


@storage_errors
def add_audit(s: Session, actor: str, action: str, address: str,
              detail: Mapping[str, object]) -> None:
    """Append an entry to the workspace's audit trail (logins, logouts, accounts)."""
    s.add(WebAudit(at=utcnow(), actor=actor, action=action, address=address,
                   detail=json_ready(detail)))
    s.flush()


@storage_errors
def audit_entries(s: Session, limit: int = 200) -> list[WebAudit]:
    """Return the newest entries of the workspace's audit trail, newest first."""
    return list(s.scalars(select(WebAudit).order_by(WebAudit.id.desc()).limit(limit)))
