"""Read-only queries behind the reviewers' reports: the queue, waiting cases, counts, failures.

Nothing here writes. Each function returns plain records (frozen dataclasses or JSON data)
that ``triage.reports`` renders without touching the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.vocabulary import OPEN_CASE_STATUSES, CaseStatus, Severity
from storage.cases import entry_to_item
from storage.db import storage_errors
from storage.export import case_to_dict, iso
from storage.fields import field_history
from storage.models import (
    Case,
    CaseMessage,
    ChecklistEntry,
    Document,
    ExtractedField,
    JsonDict,
    Ledger,
    OutgoingMessage,
)
from triage.case import COUNTED_ROLES
from triage.records import missing_items

# A message that failed intake sits in these ledger states: decided ("failed") and, once
# moved to the Needs-attention folder, final ("attention").
NEEDS_ATTENTION_STATES = ("failed", "attention")
# Only an incomplete case waits for the applicant: a complete one waits for the agency.
WAITING_STATUSES = (CaseStatus.INCOMPLETE,)


@dataclass(frozen=True)
class OpenCase:
    """One open case in the reviewers' queue."""

    ref: str
    status: str
    authority: str
    request_type: str | None
    regulation: str | None
    language: str | None
    urgent: bool
    urgent_reasons: tuple[str, ...]
    subject: str
    applicant_email: str | None
    created_at: datetime
    updated_at: datetime
    age_seconds: int
    missing: tuple[str, ...]  # required items missing or unclear
    advisory_missing: tuple[str, ...]
    checklist_items: int


@dataclass(frozen=True)
class WaitingCase:
    """An incomplete case whose last acknowledgement the applicant has not answered yet."""

    ref: str
    status: str
    since: datetime
    waiting_seconds: int
    recipient: str
    acknowledgement_subject: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class CaseCount:
    """How many cases have a status and a request type."""

    status: str
    request_type: str | None
    count: int


@dataclass(frozen=True)
class FailedIntake:
    """A mailbox message that could not be filed (it sits in Needs-attention)."""

    ledger_id: int
    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    sha256: str
    state: str
    error: str | None
    outcome: str | None
    attempts: int
    received_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class KeptWithoutCase:
    """A mailbox message kept with no case and no acknowledgement (automated mail), and why."""

    ledger_id: int
    mailbox: str
    folder: str
    uid: int
    message_id: str | None
    state: str
    reason: str
    received_at: datetime


def _seconds(now: datetime, then: datetime) -> int:
    """Return whole seconds from then to now (never negative: clocks differ)."""
    return max(int((now - then).total_seconds()), 0)


def _checklists(s: Session, case_ids: Sequence[int]) -> dict[int, list[ChecklistEntry]]:
    """Return the checklist entries of several cases, grouped by case."""
    grouped: dict[int, list[ChecklistEntry]] = defaultdict(list)
    if case_ids:
        query = select(ChecklistEntry).where(ChecklistEntry.case_id.in_(case_ids))
        for entry in s.scalars(query.order_by(ChecklistEntry.id)):
            grouped[entry.case_id].append(entry)
    return grouped


def _not_done(entries: Iterable[ChecklistEntry], severity: Severity) -> tuple[str, ...]:
    """Return the ids of items of a severity that are missing or unclear."""
    return missing_items(map(entry_to_item, entries), severity)


def _open_case(case: Case, entries: list[ChecklistEntry], now: datetime) -> OpenCase:
    """Build the queue record of one case."""
    return OpenCase(
        ref=case.ref, status=case.status, authority=case.authority,
        request_type=case.request_type, regulation=case.regulation, language=case.language,
        urgent=case.urgent, urgent_reasons=tuple(case.urgent_reasons or ()),
        subject=case.subject, applicant_email=case.applicant_email,
        created_at=case.created_at, updated_at=case.updated_at,
        age_seconds=_seconds(now, case.created_at),
        missing=_not_done(entries, Severity.REQUIRED),
        advisory_missing=_not_done(entries, Severity.ADVISORY),
        checklist_items=len(entries))


@storage_errors
def open_cases(s: Session, now: datetime) -> list[OpenCase]:
    """Return every open case with its age and what it still lacks, oldest first."""
    query = select(Case).where(Case.status.in_(OPEN_CASE_STATUSES)).order_by(Case.id)
    return queue_records(s, list(s.scalars(query)), now)


@storage_errors
def queue_records(s: Session, cases: Sequence[Case], now: datetime) -> list[OpenCase]:
    """Return the queue record (age, what it lacks) of each of these cases, in their order."""
    checklists = _checklists(s, [c.id for c in cases])
    return [_open_case(c, checklists[c.id], now) for c in cases]


def _last_sent_acks(s: Session, case_ids: Sequence[int]) -> dict[int, OutgoingMessage]:
    """Return each case's most recently queued acknowledgement that has left."""
    query = (select(OutgoingMessage)
             .where(OutgoingMessage.case_id.in_(case_ids), OutgoingMessage.state == "sent")
             .order_by(OutgoingMessage.created_at, OutgoingMessage.id))
    # Later rows overwrite earlier ones: the last one per case remains.
    return {row.case_id: row for row in s.scalars(query) if row.case_id is not None}


def _last_applicant_messages(s: Session, case_ids: Sequence[int]) -> dict[int, datetime]:
    """Return when each case last filed a message from the applicant's side.

    Out-of-office replies and re-sent duplicates bring nothing new (``COUNTED_ROLES``).
    """
    query = (select(CaseMessage.case_id, func.max(CaseMessage.created_at))
             .where(CaseMessage.case_id.in_(case_ids), CaseMessage.role.in_(COUNTED_ROLES))
             .group_by(CaseMessage.case_id))
    return {case_id: at for case_id, at in s.execute(query) if at is not None}


def _waiting(case: Case, ack: OutgoingMessage, entries: list[ChecklistEntry],
             now: datetime) -> WaitingCase:
    """Build the waiting record of a case from its last acknowledgement."""
    since = ack.sent_at or ack.created_at
    return WaitingCase(ref=case.ref, status=case.status, since=since,
                       waiting_seconds=_seconds(now, since), recipient=ack.recipient,
                       acknowledgement_subject=ack.subject,
                       missing=_not_done(entries, Severity.REQUIRED))


def _unanswered(ack: OutgoingMessage, last_message: datetime | None) -> bool:
    """Tell whether no applicant message was filed after the acknowledgement was queued."""
    return last_message is None or last_message <= ack.created_at


def _waiting_cases(s: Session, cases: Sequence[Case], now: datetime) -> list[WaitingCase]:
    """Return those of the cases that wait for the applicant, longest wait first."""
    ids = [c.id for c in cases]
    acks = _last_sent_acks(s, ids)
    answered = _last_applicant_messages(s, ids)
    checklists = _checklists(s, ids)
    waiting = [_waiting(c, acks[c.id], checklists[c.id], now) for c in cases
               if c.id in acks and _unanswered(acks[c.id], answered.get(c.id))]
    return sorted(waiting, key=lambda w: (-w.waiting_seconds, w.ref))


@storage_errors
def waiting_for_applicant(s: Session, now: datetime) -> list[WaitingCase]:
    """Return incomplete cases acknowledged with no newer applicant message, longest first.

    The acknowledgement is compared by when it was queued (with the message it answers) and
    the wait is counted from when it left.
    """
    query = select(Case).where(Case.status.in_(WAITING_STATUSES)).order_by(Case.id)
    return _waiting_cases(s, list(s.scalars(query)), now)


@storage_errors
def case_counts(s: Session) -> list[CaseCount]:
    """Return the number of cases per status and request type."""
    query = (select(Case.status, Case.request_type, func.count(Case.id))
             .group_by(Case.status, Case.request_type))
    rows = [CaseCount(status, request_type, int(count))
            for status, request_type, count in s.execute(query)]
    return sorted(rows, key=lambda r: (r.status, r.request_type or ""))


@storage_errors
def failed_intake(s: Session) -> list[FailedIntake]:
    """Return the mailbox messages that failed intake, with their errors, oldest first."""
    query = (select(Ledger).where(Ledger.state.in_(NEEDS_ATTENTION_STATES))
             .order_by(Ledger.received_at, Ledger.id))
    return [FailedIntake(
        ledger_id=row.id, mailbox=row.mailbox, folder=row.folder, uidvalidity=row.uidvalidity,
        uid=row.uid, message_id=row.message_id, sha256=row.sha256, state=row.state,
        error=row.error, outcome=row.outcome, attempts=row.attempts,
        received_at=row.received_at, updated_at=row.updated_at) for row in s.scalars(query)]


# Kept without a case: decided ("ignored") or moved to Processed ("done") with no case.
KEPT_STATES = ("ignored", "done")


@storage_errors
def kept_without_case(s: Session, since: datetime) -> list[KeptWithoutCase]:
    """Return the messages kept without a case since a time, with the reason, oldest first."""
    query = (select(Ledger).where(Ledger.state.in_(KEPT_STATES), Ledger.case_id.is_(None),
                                  Ledger.updated_at >= since)
             .order_by(Ledger.received_at, Ledger.id))
    return [KeptWithoutCase(
        ledger_id=row.id, mailbox=row.mailbox, folder=row.folder, uid=row.uid,
        message_id=row.message_id, state=row.state, reason=row.outcome or "no reason recorded",
        received_at=row.received_at) for row in s.scalars(query)]


def _field_state(row: ExtractedField) -> str:
    """Tell whether a value is current, replaced by a later one, or a disagreeing source.

    An alternative is stored after the value it points to (a candidate of the same message
    that lost); a superseded value points to a newer row that replaced it.
    """
    if row.superseded_by is None:
        return "current"
    return "superseded" if row.superseded_by > row.id else "alternative"


def history_entry(row: ExtractedField, documents: dict[int, str],
                  messages: dict[int, str | None]) -> JsonDict:
    """Return one recorded value with its provenance and state, as JSON data."""
    return {
        "id": row.id, "key": row.key, "value": row.value, "raw": row.raw,
        "source": row.source, "source_text": row.source_text, "rule": row.rule,
        "confidence": row.confidence, "origin": row.origin, "actor": row.actor,
        "superseded_by": row.superseded_by, "state": _field_state(row),
        "document": documents.get(row.document_id) if row.document_id else None,
        "message_id": messages.get(row.case_message_id) if row.case_message_id else None,
        "at": iso(row.created_at),
    }


@storage_errors
def case_field_history(s: Session, case: Case) -> list[JsonDict]:
    """Return every value ever recorded for a case: superseded, alternatives, reviewer's."""
    documents: dict[int, str] = {
        id_: name for id_, name in s.execute(
            select(Document.id, Document.filename).where(Document.case_id == case.id))}
    messages: dict[int, str | None] = {
        id_: mid for id_, mid in s.execute(
            select(CaseMessage.id, CaseMessage.message_id).where(CaseMessage.case_id == case.id))}
    return [history_entry(row, documents, messages) for row in field_history(s, case)]


@storage_errors
def waiting_of_case(s: Session, case: Case, now: datetime) -> JsonDict | None:
    """Return how long one case has waited for the applicant, or None when it does not."""
    if case.status not in WAITING_STATUSES:
        return None
    found = _waiting_cases(s, [case], now)
    return record_to_dict(found[0]) if found else None


@storage_errors
def case_report_data(s: Session, case: Case, now: datetime) -> JsonDict:
    """Return a case as case_to_dict does, plus its full field history and waiting time."""
    data = case_to_dict(s, case)
    data["field_history"] = case_field_history(s, case)
    data["waiting"] = waiting_of_case(s, case, now)
    data["generated_at"] = iso(now)
    return data


def record_to_dict(record: object) -> JsonDict:
    """Return a report record as JSON data (timestamps as ISO 8601, tuples as lists)."""
    data: JsonDict = asdict(record)  # type: ignore[call-overload]
    return {k: _json_value(v) for k, v in data.items()}


def _json_value(value: object) -> object:
    """Return a value JSON can hold."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, tuple):
        return list(value)
    return value


@storage_errors
def digest_data(s: Session, now: datetime, kept_since: datetime | None = None) -> JsonDict:
    """Return what the daily digest shows, as JSON data (failed and kept messages without
    headers); messages kept without a case are those of the last day unless told otherwise."""
    since = kept_since if kept_since is not None else now - timedelta(days=1)
    return {
        "generated_at": iso(now),
        "open_cases": [record_to_dict(c) for c in open_cases(s, now)],
        "waiting": [record_to_dict(w) for w in waiting_for_applicant(s, now)],
        "counts": [record_to_dict(c) for c in case_counts(s)],
        "failed": [record_to_dict(f) for f in failed_intake(s)],
        "kept": [record_to_dict(k) for k in kept_without_case(s, since)],
    }
