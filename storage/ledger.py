"""The mailbox ledger (one row per mailbox message) and the per-folder UID cursors.

None of these functions commits: the caller's ``Database.session()`` block is the transaction.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, ScalarResult, select, update
from sqlalchemy.orm import Session

from config.errors import StorageError
from config.vocabulary import LedgerState, names
from parsers.headers import raw_sender
from storage.blobs import BlobStore, sha256_of
from storage.db import storage_errors
from storage.models import Ledger, MailboxCursor, RawMessageRow, utcnow
from storage.records import MailboxKey, RawMessage
from storage.sql import (
    attach,
    dialect_insert,
    insert_ignoring_conflict,
    normalise_message_id,
    rare,
)

# Work left by a crash: recorded, or decided but the mailbox message not yet moved.
UNFINISHED_STATES = ("received", "filed", "failed", "duplicate", "ignored")
# States of a message whose content already reached a case.
TWIN_STATES = ("filed", "done", "duplicate")


def ledger_key(row: Ledger) -> MailboxKey:
    """Return the mailbox message a ledger row stands for."""
    return MailboxKey(row.mailbox, row.folder, row.uidvalidity, row.uid)


@storage_errors
def ledger_get(s: Session, key: MailboxKey) -> Ledger | None:
    """Return the ledger row of a mailbox message, or None if it was never recorded."""
    return s.scalars(
        select(Ledger).where(
            Ledger.mailbox == key.mailbox,
            Ledger.folder == key.folder,
            Ledger.uidvalidity == key.uidvalidity,
            Ledger.uid == key.uid,
        )
    ).one_or_none()


@storage_errors
def ledger_record(
    s: Session, raw: RawMessage, message_id: str | None, blobs: BlobStore | None
) -> Ledger:
    """Keep the raw bytes and record the message as received; an existing row is returned.

    One INSERT that does nothing when the mailbox message is already recorded (by a cycle
    that stopped before its cursor moved, or by another process at the same moment), where
    a read, a savepoint and an insert were three round trips a message.
    """
    _store_raw(s, raw, blobs)
    key = raw.key
    recorded = (
        dialect_insert(s, Ledger)
        .values(mailbox=key.mailbox, folder=key.folder, uidvalidity=key.uidvalidity,
                uid=key.uid, message_id=normalise_message_id(message_id), sha256=raw.sha256,
                state="received", attempts=0, received_at=raw.received_at)
        .on_conflict_do_nothing(index_elements=["mailbox", "folder", "uidvalidity", "uid"])
        .returning(Ledger)
    )
    row = s.scalars(recorded, execution_options={"populate_existing": True}).one_or_none()
    if row is not None:
        return row
    existing = ledger_get(s, key)
    if existing is None:
        raise StorageError(f"message {key} was neither recorded nor found recorded")
    return existing


def _store_raw(s: Session, raw: RawMessage, blobs: BlobStore | None) -> None:
    """Keep the bytes in the blob store (or inline when there is none) and index them."""
    if raw.stored_size is not None:  # kept in the blob store as it was fetched
        if blobs is None or not blobs.exists(raw.sha256):
            raise StorageError(f"message {raw.key} was kept in a blob store that is not here")
    elif sha256_of(raw.data) != raw.sha256:
        raise StorageError(f"message {raw.key} carries a SHA-256 that does not match its bytes")
    elif blobs is not None:
        blobs.put(raw.data)  # written before the row: a rollback leaves a harmless orphan
    insert_ignoring_conflict(
        s,
        RawMessageRow,
        ["sha256"],
        sha256=raw.sha256,
        size=raw.size,
        stored_in="file" if blobs is not None else "db",
        data=None if blobs is not None else raw.data,
        stored_at=utcnow(),
    )


@storage_errors
def ledger_raw(s: Session, row: Ledger, blobs: BlobStore | None) -> bytes:
    """Return the raw bytes of a recorded message, verified against their hash."""
    stored = s.get(RawMessageRow, row.sha256)
    if stored is None:
        raise StorageError(f"raw message {row.sha256} of ledger row {row.id} is missing")
    if stored.stored_in == "file":
        if blobs is None:
            raise StorageError(f"raw message {row.sha256} is in the blob store; none was given")
        return blobs.get(row.sha256)
    data = stored.data or b""
    if sha256_of(data) != row.sha256:
        raise StorageError(f"raw message {row.sha256} in the database is corrupt")
    return data


@storage_errors
def ledger_same_message(
    s: Session, message_id: str | None, sha256: str, exclude_id: int,
    blobs: BlobStore | None = None,
) -> tuple[Ledger | None, Ledger | None]:
    """Return the first other filed row with the same message (its twin), else the first
    other filed row that only shares its Message-ID (a clash); one query for both.

    The same message is the same Message-ID with the same bytes or the same sender (a copy
    re-sent through another relay); without a Message-ID, the same bytes. A Message-ID is
    chosen by the sender: another sender reusing one is another message, filed on its own.
    """
    wanted = normalise_message_id(message_id)
    if not wanted:
        return _filed_rows(s, Ledger.sha256 == sha256, exclude_id).first(), None
    rows = list(_filed_rows(s, Ledger.message_id == wanted, exclude_id))
    same = next((row for row in rows if row.sha256 == sha256), None)
    if same is None and rows:
        sender = _raw_sender(s, sha256, blobs)
        if sender is not None:
            same = next((row for row in rows if _raw_sender(s, row.sha256, blobs) == sender),
                        None)
    return same, (rows[0] if same is None and rows else None)


@storage_errors
def ledger_note_clash(s: Session, row: Ledger, clash: Ledger) -> Ledger:
    """Add to a row's outcome that its Message-ID was already used by another message."""
    row = attach(s, row)
    row.outcome = (f"{row.outcome or ''}; Message-ID also on ledger row {clash.id} "
                   "(another sender and content: filed on its own)").lstrip("; ")
    s.flush()
    return row


def _filed_rows(s: Session, same: ColumnElement[bool], exclude_id: int) -> ScalarResult[Ledger]:
    """Return the other rows matching a condition whose content already reached a case."""
    return s.scalars(select(Ledger).where(same, Ledger.id != exclude_id,
                                          Ledger.state.in_(TWIN_STATES)).order_by(Ledger.id))


def _raw_sender(s: Session, sha256: str, blobs: BlobStore | None) -> str | None:
    """Return the From address of kept bytes, None when they cannot be read."""
    stored = s.get(RawMessageRow, sha256)
    if stored is None:
        return None
    if stored.stored_in == "db":
        return raw_sender(stored.data or b"")
    if blobs is None or not blobs.exists(sha256):
        return None
    return raw_sender(blobs.get(sha256))


@storage_errors
def ledger_set_state(
    s: Session,
    row: Ledger,
    state: str,
    *,
    case_id: int | None = None,
    outcome: str | None = None,
    error: str | None = None,
) -> Ledger:
    """Move a row to a state; case_id and outcome change only when given, error always.

    One UPDATE of the named columns, the stored row returned (the one in s): a stale copy
    (even one merged into s) cannot undo committed work, and the row is not read first.
    """
    if state not in names(LedgerState):
        raise StorageError(f"unknown ledger state {state!r}")
    values: dict[str, object] = {"state": state, "error": error, "updated_at": utcnow()}
    if case_id is not None:
        values["case_id"] = case_id
    if outcome is not None:
        values["outcome"] = outcome
    if row.id is None and row in s:
        s.flush()  # a row added in this session: stored now, with its id
    if row.id is None:
        raise StorageError("a ledger row that was never stored has no state to move")
    if row in s:
        s.expire(row)  # a stale copy merged into s: its unsaved values are not written
    moved = update(Ledger).where(Ledger.id == row.id).values(**values).returning(Ledger)
    stored = s.scalars(moved, execution_options={"synchronize_session": False,
                                                 "populate_existing": True}).one_or_none()
    if stored is None:
        raise StorageError(f"ledger row {row.id} is not stored")
    return stored


@storage_errors
def ledger_note_attempt(s: Session, row: Ledger, error: str | None = None) -> int:
    """Count one more failed processing attempt, with its reason; return the total.

    The row keeps its state: the message is tried again until the attempts run out.
    """
    row = attach(s, row)
    # An SQL increment: two processes noting attempts at once both count.
    row.attempts = Ledger.attempts + 1
    if error is not None:
        row.error = error[:2000]
    row.updated_at = utcnow()
    s.flush()
    s.refresh(row, ["attempts"])
    return row.attempts


@storage_errors
def ledger_unfinished(s: Session, mailbox: str) -> list[Ledger]:
    """Return the rows of a mailbox left received or filed (by a crash), oldest first."""
    return list(
        s.scalars(
            select(Ledger)
            .where(Ledger.mailbox == mailbox, rare(Ledger.state.in_(UNFINISHED_STATES)))
            .order_by(Ledger.id)
        )
    )


@storage_errors
def ledger_in_state(s: Session, state: str, mailbox: str | None = None) -> list[Ledger]:
    """Return the rows in a state (optionally of one mailbox), oldest first."""
    query = select(Ledger).where(Ledger.state == state)
    if mailbox is not None:
        query = query.where(Ledger.mailbox == mailbox)
    return list(s.scalars(query.order_by(Ledger.id)))


@storage_errors
def cursor_get(s: Session, mailbox: str, folder: str) -> tuple[int, int] | None:
    """Return (uidvalidity, last_uid) of a folder, or None before its first poll."""
    row = s.get(MailboxCursor, (mailbox, folder))
    return None if row is None else (row.uidvalidity, row.last_uid)


@storage_errors
def cursor_set(s: Session, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
    """Raise a folder's UID high-water mark; a new UIDVALIDITY starts it afresh."""
    insert_ignoring_conflict(
        s,
        MailboxCursor,
        ["mailbox", "folder"],
        mailbox=mailbox,
        folder=folder,
        uidvalidity=uidvalidity,
        last_uid=last_uid,
        updated_at=utcnow(),
    )
    row = s.scalars(
        select(MailboxCursor)
        .where(MailboxCursor.mailbox == mailbox, MailboxCursor.folder == folder)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if row.uidvalidity != uidvalidity:
        row.uidvalidity, row.last_uid = uidvalidity, last_uid
    elif last_uid > row.last_uid:
        row.last_uid = last_uid
    s.flush()
