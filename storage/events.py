"""The append-only audit trail of a case."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import storage_errors
from storage.models import Case, CaseEvent, JsonDict, utcnow


def json_ready(detail: Mapping[str, object]) -> JsonDict:
    """Return detail as plain JSON data (dates and other objects become strings)."""
    loaded: JsonDict = json.loads(json.dumps(dict(detail), default=str, ensure_ascii=False))
    return loaded


@storage_errors
def add_event(
    s: Session, case: Case, actor: str, action: str, detail: Mapping[str, object]
) -> CaseEvent:
    """Append an event to a case's audit trail (written with the transaction's next flush).

    Not flushed here: the several events of one filing then go to the database as one
    batched INSERT, in the order they were added.
    """
    event = CaseEvent(
        case_id=case.id, at=utcnow(), actor=actor, action=action, detail=json_ready(detail)
    )
    s.add(event)
    return event


@storage_errors
def case_events(s: Session, case: Case) -> list[CaseEvent]:
    """Return a case's events, oldest first."""
    query = select(CaseEvent).where(CaseEvent.case_id == case.id)
    return list(s.scalars(query.order_by(CaseEvent.at, CaseEvent.id)))
