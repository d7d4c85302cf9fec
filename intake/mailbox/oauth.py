"""Bearer tokens for XOAUTH2 logins (IMAP and SMTP): from a command or a file, cached until
they expire.

A command or file yields either the bare token or a JSON object
``{"access_token": "...", "expires_in": 3599}`` (or ``"expires_at"``: seconds since the epoch).
Failures are TokenErrors, which the IMAP and SMTP sides translate into their own errors.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from config.errors import TokenError
from config.settings import Secret

# Refresh a little before expiry so that a token is never presented as it runs out.
EXPIRY_MARGIN_SECONDS = 60.0
COMMAND_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Token:
    """A bearer token and when it stops being valid (None: unknown)."""

    value: Secret
    expires_at: float | None = None


class TokenSource:
    """Gets a bearer token from a command, a file or a fixed secret, caching it while valid."""

    def __init__(self, command: str = "", file: Path | None = None,
                 static: Secret | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        if not (command or file or static):
            raise TokenError("no OAuth2 token source: set oauth2_token_command, "
                             "oauth2_token_file or a password source")
        self._command = command
        self._file = file
        self._static = static
        self._clock = clock
        self._cached: Token | None = None

    def token(self) -> Secret:
        """Return a valid token, running the command or reading the file when needed."""
        if self._cached is not None and self._still_valid(self._cached):
            return self._cached.value
        fresh = self._acquire()
        self._cached = fresh if fresh.expires_at is not None else None
        return fresh.value

    def invalidate(self) -> None:
        """Forget the cached token (after the server refused it)."""
        self._cached = None

    def _still_valid(self, token: Token) -> bool:
        """Tell whether a cached token has some life left."""
        return token.expires_at is not None and \
            token.expires_at - EXPIRY_MARGIN_SECONDS > self._clock()

    def _acquire(self) -> Token:
        """Read a new token from the configured source."""
        if self._command:
            return parse_token(run_token_command(self._command), self._clock())
        if self._file is not None:
            return parse_token(read_token_file(self._file), self._clock())
        assert self._static is not None
        return Token(self._static)


class OAuth2Settings(Protocol):
    """The settings a token source is built from: a mailbox's or the SMTP relay's."""

    @property
    def oauth2_token_command(self) -> str: ...

    @property
    def oauth2_token_file(self) -> Path | None: ...

    @property
    def password(self) -> Secret | None: ...


def token_source_for(settings: OAuth2Settings) -> TokenSource:
    """Build the token source mailbox or SMTP settings describe (command, file or secret)."""
    return TokenSource(settings.oauth2_token_command, settings.oauth2_token_file,
                       settings.password)


def xoauth2_response(username: str, token: Secret) -> str:
    """Return the XOAUTH2 initial client response (before base64): holds the token itself."""
    return f"user={username}\x01auth=Bearer {token.reveal()}\x01\x01"


def run_token_command(command: str) -> str:
    """Run the token command (no shell) and return what it printed."""
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_SECONDS, check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise TokenError(f"OAuth2 token command failed: {type(exc).__name__}: {exc}") from exc
    if done.returncode != 0:
        # stderr only: stdout may hold a token.
        detail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise TokenError(f"OAuth2 token command exited with {done.returncode}: "
                         f"{detail[0][:200]}")
    return done.stdout


def read_token_file(path: Path) -> str:
    """Read the token file (another process keeps it fresh)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read OAuth2 token file {path}: "
                         f"{type(exc).__name__}") from exc


def parse_token(text: str, now: float) -> Token:
    """Turn command or file output into a Token: a bare token or a JSON object."""
    stripped = text.strip()
    if not stripped:
        raise TokenError("OAuth2 token source gave an empty token")
    if not stripped.startswith("{"):
        return Token(Secret(stripped.splitlines()[0].strip()))
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise TokenError("OAuth2 token source gave JSON that cannot be read") from exc
    return _token_from_json(data, now)


def _token_from_json(data: Any, now: float) -> Token:
    """Read access_token and expires_in / expires_at from a JSON token object."""
    value = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise TokenError("OAuth2 token JSON has no access_token")
    expires_in, expires_at = data.get("expires_in"), data.get("expires_at")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return Token(Secret(value), now + float(expires_in))
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        return Token(Secret(value), float(expires_at))
    return Token(Secret(value))
