"""SQLAlchemy models: the mailbox ledger, stored raw messages, cases and the outbox.

Every external string that may be long (subjects, file names, addresses) is unbounded text:
a value too long for a ``VARCHAR`` would fail a message on PostgreSQL and pass on SQLite.
For the same reason text and JSON columns replace NUL characters, which PostgreSQL refuses
and broken PDFs produce. Vocabulary columns (states, roles) are short strings guarded by
named CHECK constraints.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from config.vocabulary import (
    CaseStatus,
    FieldOrigin,
    LedgerState,
    LinkKind,
    MessageRole,
    OutboxState,
    Role,
    StoredIn,
    names,
)

JsonDict = dict[str, Any]



# Deterministic constraint names: later migrations (and SQLite batch mode) refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NUL = "\x00"
# What a NUL character becomes: visible to a reviewer, and accepted by every database.
NUL_STANDIN = "\ufffd"
NUL_ESCAPED = "\\u0000"  # how json.dumps writes a NUL character


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def one_of(column: str, vocabulary: type[StrEnum]) -> str:
    """Return a CHECK expression limiting a column to a vocabulary."""
    return f"{column} IN ({', '.join(repr(v) for v in names(vocabulary))})"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; a naive value is taken to be UTC already (mail headers may be)."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite stores text without an offset: normalising to UTC keeps text order == time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the driver gave back."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def without_nul(value: Any) -> Any:
    """Return value with NUL characters replaced in every string it holds (JSON data)."""
    if isinstance(value, str):
        return value.replace(NUL, NUL_STANDIN)
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


class SafeText(TypeDecorator[str]):
    """Unbounded text that stores NUL characters as U+FFFD on every database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Replace NUL characters (PostgreSQL refuses them in text)."""
        return None if value is None else value.replace(NUL, NUL_STANDIN)


class SafeJson(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) whose strings have NUL characters replaced."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use JSONB on PostgreSQL so that rows holding JSON can be compared (DISTINCT)."""
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Replace NUL characters (JSONB refuses \\u0000)."""
        # Walking every value in Python cost more than the insert: one C-speed dump tells
        # whether any string holds a NUL (a literal backslash-u0000 only costs the walk).
        if value is None or NUL_ESCAPED not in json.dumps(value):
            return value
        return without_nul(value)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and its naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        str: SafeText(),
        JsonDict: SafeJson(),
        list[str]: SafeJson(),
    }


class RawMessageRow(Base):
    """The bytes of a received message, by content hash (kept in the blob store or inline)."""

    __tablename__ = "raw_message"
    __table_args__ = (CheckConstraint(one_of("stored_in", StoredIn), name="stored_in"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    stored_in: Mapped[str] = mapped_column(String(8))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ledger(Base):
    """One row per mailbox message: the idempotency table of the intake."""

    __tablename__ = "mailbox_ledger"
    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "uidvalidity", "uid"),
        CheckConstraint(one_of("state", LedgerState), name="state"),
        Index(None, "mailbox", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(SafeText())
    folder: Mapped[str] = mapped_column(SafeText())
    # IMAP UIDs and UIDVALIDITY are unsigned 32-bit: they overflow a signed INTEGER.
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(SafeText(), index=True)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("raw_message.sha256"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default=LedgerState.RECEIVED)
    outcome: Mapped[str | None] = mapped_column(SafeText())
    error: Mapped[str | None] = mapped_column(SafeText())
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailboxCursor(Base):
    """The UID high-water mark of one folder under its current UIDVALIDITY."""

    __tablename__ = "mailbox_cursor"

    mailbox: Mapped[str] = mapped_column(SafeText(), primary_key=True)
    folder: Mapped[str] = mapped_column(SafeText(), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CaseSequence(Base):
    """The last case number handed out in a year."""

    __tablename__ = "case_sequence"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """A derogation request and everything learned about it."""

    __tablename__ = "case"
    __table_args__ = (CheckConstraint(one_of("status", CaseStatus), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(SafeText(), unique=True)
    authority: Mapped[str] = mapped_column(SafeText())
    request_type: Mapped[str | None] = mapped_column(SafeText())
    regulation: Mapped[str | None] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent_reasons: Mapped[list[str]] = mapped_column(default=list)
    applicant_email: Mapped[str | None] = mapped_column(SafeText(), index=True)
    subject: Mapped[str] = mapped_column(SafeText(), default="")
    rules_version: Mapped[str] = mapped_column(SafeText(), default="")
    triage: Mapped[JsonDict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CaseMessage(Base):
    """A message filed under a case (the request, follow-ups, duplicates ...)."""

    __tablename__ = "case_message"
    __table_args__ = (CheckConstraint(one_of("role", MessageRole), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    # UNIQUE: a mailbox message is filed at most once.
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("mailbox_ledger.id"), unique=True)
    message_id: Mapped[str | None] = mapped_column(SafeText(), index=True)
    role: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str | None] = mapped_column(SafeText(), index=True)
    subject: Mapped[str] = mapped_column(SafeText(), default="")
    sent_at: Mapped[datetime | None] = mapped_column()
    in_reply_to: Mapped[list[str]] = mapped_column(default=list)
    references: Mapped[list[str]] = mapped_column(default=list)
    language: Mapped[str | None] = mapped_column(String(8))
    triage: Mapped[JsonDict] = mapped_column(default=dict)
    rules_version: Mapped[str] = mapped_column(SafeText(), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Base):
    """An attachment of a filed message, with the kind extraction gave it."""

    __tablename__ = "document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    case_message_id: Mapped[int] = mapped_column(ForeignKey("case_message.id"), index=True)
    filename: Mapped[str] = mapped_column(SafeText())
    content_type: Mapped[str] = mapped_column(SafeText())
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(SafeText())
    kind_rule: Mapped[str | None] = mapped_column(SafeText())
    pages: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(SafeText())
    error_detail: Mapped[str | None] = mapped_column(SafeText())
    # Signature fields of a form ({name, signed, page}): the checklist re-reads them later.
    signatures: Mapped[list[JsonDict]] = mapped_column(SafeJson(), default=list)
    # Pages OCR could not read, or not well ({page, reason, detail}): the checklist reports
    # items that could be on them as unclear rather than missing.
    page_problems: Mapped[list[JsonDict]] = mapped_column(SafeJson(), default=list)
    # The documents the file holds when it holds several ({kind, kind_rule, where,
    # first_page, last_page}): a case re-checked from stored documents counts each part.
    parts: Mapped[list[JsonDict]] = mapped_column(SafeJson(), default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExtractedField(Base):
    """One value of a canonical field; a newer differing value supersedes it, both kept."""

    __tablename__ = "extracted_field"
    __table_args__ = (
        CheckConstraint(one_of("origin", FieldOrigin), name="origin"),
        Index(None, "case_id", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    case_message_id: Mapped[int | None] = mapped_column(ForeignKey("case_message.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    key: Mapped[str] = mapped_column(SafeText())
    value: Mapped[str] = mapped_column(SafeText())
    raw: Mapped[str] = mapped_column(SafeText(), default="")
    source: Mapped[JsonDict] = mapped_column(default=dict)
    source_text: Mapped[str] = mapped_column(SafeText(), default="")
    rule: Mapped[str] = mapped_column(SafeText(), default="")
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    origin: Mapped[str] = mapped_column(String(16), default=FieldOrigin.EXTRACTED)
    actor: Mapped[str | None] = mapped_column(SafeText())
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("extracted_field.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChecklistEntry(Base):
    """The current status of one completeness item of a case."""

    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("case_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    item_id: Mapped[str] = mapped_column(SafeText())
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(SafeText(), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutgoingMessage(Base):
    """A reply in the durable outbox, sent by a separate process."""

    __tablename__ = "outgoing_message"
    __table_args__ = (
        CheckConstraint(one_of("state", OutboxState), name="state"),
        Index(None, "state", "next_attempt_at"),
        # The reply policy counts the last hour's acknowledgements to one domain: by this
        # index it reads that domain's rows, not every row of the hour (a backlog's
        # thousands, read again for each new acknowledgement).
        Index(None, "recipient_domain", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    case_message_id: Mapped[int | None] = mapped_column(ForeignKey("case_message.id"))
    message_id: Mapped[str] = mapped_column(SafeText(), unique=True)
    recipient: Mapped[str] = mapped_column(SafeText())
    recipient_domain: Mapped[str] = mapped_column(SafeText())  # storage.outbox.recipient_domain
    subject: Mapped[str] = mapped_column(SafeText(), default="")
    kind: Mapped[str] = mapped_column(SafeText())
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(SafeText())
    smtp_reply: Mapped[str | None] = mapped_column(SafeText())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class CaseEvent(Base):
    """One entry of a case's audit trail; the database refuses updates and deletes."""

    __tablename__ = "case_event"
    __table_args__ = (Index(None, "case_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(SafeText())
    action: Mapped[str] = mapped_column(SafeText())
    detail: Mapped[JsonDict] = mapped_column(default=dict)


class RuleVersion(Base):
    """The rule files of a profile version, kept from the first message filed with it.

    A case records only its rules version (a hash of the profile's files); this row says
    which rules that hash stood for, long after the files have changed.
    """

    __tablename__ = "rule_version"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile: Mapped[str] = mapped_column(SafeText())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    files: Mapped[JsonDict] = mapped_column(default=dict)  # {"famhp/extraction.toml": text}


class JobRun(Base):
    """A scheduled job's run on one day, claimed by the first instance to start it."""

    __tablename__ = "job_run"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    host: Mapped[str] = mapped_column(SafeText())  # which machine ran it, for the operators


# --- the reviewers' workspace -----------------------------------------------------------------

class WebUser(Base):
    """An account of the reviewers' workspace; its password is kept as an Argon2 hash."""

    __tablename__ = "web_user"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(SafeText(), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(SafeText())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class WebToken(Base):
    """An API token of an account: only its SHA-256 is kept (the token is shown once)."""

    __tablename__ = "web_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A login: the cookie holds a random token, the database its SHA-256 and expiry."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(SafeText(), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class LoginAttempt(Base):
    """One attempt to log in, kept to slow down password guessing (per name and address)."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(SafeText())
    address: Mapped[str] = mapped_column(SafeText())
    at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class WebAudit(Base):
    """An entry of the workspace's own audit trail: logins, logouts, account changes."""

    __tablename__ = "web_audit"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(SafeText())
    action: Mapped[str] = mapped_column(SafeText())
    address: Mapped[str] = mapped_column(SafeText(), default="")
    detail: Mapped[JsonDict] = mapped_column(default=dict)


class CaseAssignment(Base):
    """The reviewer a case is assigned to (at most one)."""

    __tablename__ = "case_assignment"

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True,
                                         autoincrement=False)
    user_name: Mapped[str] = mapped_column(SafeText())
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(SafeText())


class CaseNote(Base):
    """An internal note on a case: reviewers only, never sent to the applicant."""

    __tablename__ = "case_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    author: Mapped[str] = mapped_column(SafeText())
    text: Mapped[str] = mapped_column(SafeText())
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseLink(Base):
    """Two cases tied by a reviewer: related, or merged (with what moved, to undo it)."""

    __tablename__ = "case_link"
    __table_args__ = (CheckConstraint(one_of("kind", LinkKind), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    other_case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(SafeText())
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[JsonDict] = mapped_column(default=dict)
    removed_at: Mapped[datetime | None] = mapped_column()
    removed_by: Mapped[str | None] = mapped_column(SafeText())
