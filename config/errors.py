"""The project's error hierarchy: one base class, one subclass per kind of failure.

Foreign errors (pdfminer, SQLAlchemy, imaplib, smtplib ...) are translated into these with
``raise ... from`` at the edge where they occur, so that callers handle one family.
"""

from __future__ import annotations


class IntakeError(Exception):
    """Base class of every error this application raises on purpose."""


class ConfigError(IntakeError):
    """A settings file, environment variable or rule file is wrong."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.reason = message
        super().__init__(self.describe())

    def describe(self) -> str:
        """Return 'path:line: key: reason' with the parts that are known."""
        where = ":".join(str(p) for p in (self.path, self.line) if p is not None)
        parts = [p for p in (where, self.key) if p]
        return ": ".join([*parts, self.reason])


class ParseError(IntakeError):
    """Input bytes could not be read; ``reason`` is a stable code reports can show."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class MailboxError(IntakeError):
    """The mailbox server refused or failed an operation."""


class TokenError(IntakeError):
    """An OAuth2 bearer token could not be had (its command failed, its file is unreadable)."""


class StorageError(IntakeError):
    """The database or the blob store failed."""


class DeliveryError(IntakeError):
    """An outgoing message could not be handed over; ``permanent`` tells 5xx from 4xx."""

    def __init__(self, message: str, *, permanent: bool, smtp_code: int | None = None) -> None:
        self.permanent = permanent
        self.smtp_code = smtp_code
        super().__init__(message)
