"""Figures for monitoring, read at each scrape: outbox rows by state, the oldest unfiled message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import storage_errors
from storage.models import Ledger, OutgoingMessage, utcnow
from storage.sql import rare

UNFILED_STATES = ("received",)


@storage_errors
def outbox_counts(s: Session) -> dict[str, int]:
    """The number of outgoing messages in each state."""
    rows = s.execute(select(OutgoingMessage.state, func.count())
                     .group_by(OutgoingMessage.state)).all()
    return {state: count for state, count in rows}


@storage_errors
def oldest_unfiled_seconds(s: Session, now: datetime | None = None) -> dict[str, float]:
    """Per mailbox, how long the oldest message taken but not yet filed has waited."""
    now = now or utcnow()
    rows = s.execute(select(Ledger.mailbox, func.min(Ledger.received_at))
                     .where(rare(Ledger.state.in_(UNFILED_STATES)))
                     .group_by(Ledger.mailbox)).all()
    return {mailbox: max(0.0, (now - _aware(oldest, now)).total_seconds())
            for mailbox, oldest in rows if oldest is not None}


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite gives naive datetimes back: they are UTC, as stored."""
    return moment.replace(tzinfo=like.tzinfo) if moment.tzinfo is None else moment
