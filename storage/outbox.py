"""The durable outbox: replies are written with the case and sent by a separate process.

States: ``pending`` (due at next_attempt_at) -> ``sending`` -> ``sent``; a temporary failure
goes back to ``pending`` with a later time, a permanent one to ``failed``. A row found in
``sending`` after a crash becomes ``uncertain``: it may have left, so it is never resent
without a person's decision. ``held`` waits for a person; ``suppressed`` will never go.
Every state change is one compare-and-set on the stored row, refused (StorageConflict) when
the table below forbids the move from the state the row is in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from config.errors import StorageError
from config.vocabulary import OutboxState, names
from storage.db import StorageConflict, storage_errors
from storage.models import Case, CaseMessage, OutgoingMessage, utcnow
from storage.sql import normalise_message_id, rare

# Action -> (the state it leads to, the states it may start from).
MOVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "claim": ("sending", ("pending",)),
    "sent": ("sent", ("sending",)),
    "retry": ("pending", ("sending",)),
    "fail": ("failed", ("pending", "held", "sending")),
    "uncertain": ("uncertain", ("sending",)),
    "release": ("pending", ("held", "uncertain", "failed")),
    "suppress": ("suppressed", ("pending", "held", "uncertain", "failed")),
}


def _move(s: Session, msg: OutgoingMessage, action: str, **values: Any) -> OutgoingMessage:
    """Move the stored row, if the table allows the action from its state, and set values.

    One compare-and-set UPDATE: the write lock is held for one statement, not for a read,
    Python and a write (the sender's moves were keeping the intake's filing waiting). A row
    in another state is left as it is: StorageConflict, naming its state.
    """
    state, allowed_from = MOVES[action]
    moved = (update(OutgoingMessage)
             .where(OutgoingMessage.id == msg.id, OutgoingMessage.state.in_(allowed_from))
             .values(state=state, **values).returning(OutgoingMessage))
    row = s.scalars(moved, execution_options={"synchronize_session": False,
                                              "populate_existing": True}).one_or_none()
    if row is not None:
        return row
    found = s.execute(select(OutgoingMessage.message_id, OutgoingMessage.state)
                      .where(OutgoingMessage.id == msg.id)).one_or_none()
    if found is None:
        raise StorageError(f"outgoing message {msg.id} is not stored")
    raise StorageConflict(f"outgoing message {found.message_id} is {found.state}: "
                          f"cannot {action} it")


@storage_errors
def outbox_add(
    s: Session,
    *,
    case: Case | None,
    case_message: CaseMessage | None,
    message_id: str,
    recipient: str,
    subject: str,
    kind: str,
    raw: bytes,
    held: bool,
    now: datetime | None = None,
) -> OutgoingMessage:
    """Queue a reply; a second call with the same Message-ID returns the first row."""
    wanted = normalise_message_id(message_id)
    if wanted is None:
        raise StorageError("an outgoing message needs a Message-ID")
    existing = s.scalars(
        select(OutgoingMessage).where(OutgoingMessage.message_id == wanted)
    ).one_or_none()
    if existing is not None:
        return existing
    at = now or utcnow()
    msg = OutgoingMessage(
        case_id=case.id if case is not None else None,
        case_message_id=case_message.id if case_message is not None else None,
        message_id=wanted,
        recipient=recipient.strip(),
        recipient_domain=recipient_domain(recipient),
        subject=subject,
        kind=kind,
        raw=raw,
        state="held" if held else "pending",
        attempts=0,
        next_attempt_at=None if held else at,
        created_at=at,
    )
    s.add(msg)
    s.flush()
    return msg


@storage_errors
def outbox_due(s: Session, now: datetime, limit: int | None = None) -> list[OutgoingMessage]:
    """Return pending replies due by now, earliest first, locked for this transaction."""
    query = (
        select(OutgoingMessage)
        .where(*_due(now))
        .order_by(OutgoingMessage.next_attempt_at, OutgoingMessage.id)
        .limit(limit)
        # Two senders on PostgreSQL never pick the same row (SQLite serialises writers).
        .with_for_update(skip_locked=True)
    )
    return list(s.scalars(query))


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a pending reply that is due by now."""
    return OutgoingMessage.state == "pending", OutgoingMessage.next_attempt_at <= now


@storage_errors
def outbox_due_count(s: Session, now: datetime) -> int:
    """Return how many pending replies are due by now."""
    return s.scalar(select(func.count()).select_from(OutgoingMessage).where(*_due(now))) or 0


@storage_errors
def outbox_mark_sending(
    s: Session, msg: OutgoingMessage, *, now: datetime | None = None
) -> OutgoingMessage:
    """Claim a pending reply for sending (commit this before talking to the server)."""
    return _move(s, msg, "claim", attempts=OutgoingMessage.attempts + 1,
                 next_attempt_at=now or utcnow())


@storage_errors
def outbox_mark_sent(
    s: Session, msg: OutgoingMessage, smtp_reply: str, *, now: datetime | None = None
) -> OutgoingMessage:
    """Record that the server accepted the reply."""
    return _move(s, msg, "sent", smtp_reply=smtp_reply, sent_at=now or utcnow(),
                 next_attempt_at=None)


@storage_errors
def outbox_mark_retry(
    s: Session, msg: OutgoingMessage, error: str, next_attempt_at: datetime
) -> OutgoingMessage:
    """Put a reply back in the queue after a temporary failure."""
    return _move(s, msg, "retry", last_error=error, next_attempt_at=next_attempt_at)


@storage_errors
def outbox_mark_failed(s: Session, msg: OutgoingMessage, error: str) -> OutgoingMessage:
    """Give a reply up after a permanent failure."""
    return _move(s, msg, "fail", last_error=error, next_attempt_at=None)


@storage_errors
def outbox_mark_uncertain(s: Session, msg: OutgoingMessage, reason: str) -> OutgoingMessage:
    """Mark a reply that was being sent when the sender stopped: it may have left."""
    return _move(s, msg, "uncertain", last_error=reason, next_attempt_at=None)


@storage_errors
def outbox_release(
    s: Session, msg: OutgoingMessage, *, now: datetime | None = None
) -> OutgoingMessage:
    """Let a held, uncertain or failed reply go (a person's decision)."""
    return _move(s, msg, "release", next_attempt_at=now or utcnow())


@storage_errors
def outbox_suppress(s: Session, msg: OutgoingMessage, reason: str) -> OutgoingMessage:
    """Decide that a reply that has not left will never be sent."""
    return _move(s, msg, "suppress", last_error=reason, next_attempt_at=None)


@storage_errors
def outbox_in_state(s: Session, state: str) -> list[OutgoingMessage]:
    """Return the replies in a state, oldest first."""
    if state not in names(OutboxState):
        raise StorageError(f"unknown outbox state {state!r}")
    condition = OutgoingMessage.state == state
    # Replies pass through the other states on their way to one of these two.
    if state not in (OutboxState.SENT, OutboxState.SUPPRESSED):
        condition = rare(condition)
    query = select(OutgoingMessage).where(condition)
    return list(s.scalars(query.order_by(OutgoingMessage.id)))


@storage_errors
def outbox_list(s: Session) -> list[OutgoingMessage]:
    """Return every reply, oldest first."""
    return list(s.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))


@storage_errors
def outbox_for_case(s: Session, case: Case) -> list[OutgoingMessage]:
    """Return the replies of a case, oldest first."""
    query = select(OutgoingMessage).where(OutgoingMessage.case_id == case.id)
    return list(s.scalars(query.order_by(OutgoingMessage.id)))


def recipient_domain(address: str) -> str:
    """Return the lower-case domain after an address's last '@' (the rate limits count by it)."""
    return address.strip().lower().rpartition("@")[2]


@storage_errors
def ack_recipients_since(s: Session, domain: str, since: datetime) -> list[str]:
    """Return the recipients at a domain of replies queued since a time (not suppressed)."""
    query = select(OutgoingMessage.recipient).where(
        OutgoingMessage.recipient_domain == recipient_domain(domain),
        OutgoingMessage.created_at >= since,
        OutgoingMessage.state != "suppressed",
    )
    return list(s.scalars(query))
