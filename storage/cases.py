"""Cases: references, creation, lookups for threading and duplicates, checklist, status.

None of these functions commits: the caller's ``Database.session()`` block is the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, insert, or_, select
from sqlalchemy.orm import Session

from config.errors import StorageError
from config.vocabulary import (
    FINAL_CASE_STATUSES,
    OPEN_CASE_STATUSES,
    CaseStatus,
    ItemStatus,
    Severity,
    names,
)
from parsers.records import FieldValue
from storage.db import storage_errors
from storage.events import add_event
from storage.fields import source_from_dict, source_to_dict
from storage.models import (
    Case,
    CaseEvent,
    CaseMessage,
    CaseSequence,
    ChecklistEntry,
    Document,
    ExtractedField,
    JsonDict,
    OutgoingMessage,
    utcnow,
)
from storage.sql import attach, dialect_insert, normalise_address, normalise_message_id
from triage.case import CaseState, ReviewerDecision, derived_status, opening_role
from triage.records import ChecklistItem, Decision, TriageResult, missing_items

STATUS_CHANGED = "status_changed"

DEFAULT_REF_FORMAT = "{prefix}-{year}-{seq:06d}"


def _decision(decision: Decision) -> JsonDict:
    """Return a decision as JSON data."""
    return {"value": decision.value, "reasons": list(decision.reasons)}


def triage_to_dict(triage: TriageResult) -> JsonDict:
    """Return the summary of a triage result that a case and a message keep."""
    return {
        "kind": triage.kind,
        "kind_reasons": list(triage.kind_reasons),
        "authority": triage.authority,
        "language": _decision(triage.language),
        "request_type": _decision(triage.request_type),
        "regulation": _decision(triage.regulation),
        "urgent": _decision(triage.urgent),
        "case_ref": triage.case_ref,
        "fields": {key: f.value for key, f in sorted(triage.fields.items())},
        # The value the message states per key, with its provenance: the case state reads it.
        "stated": {key: field_to_dict(f) for key, f in sorted(triage.fields.items())},
        # The values each document holds: the checklist's signature fallback reads them.
        "document_fields": {d.sha256: {f.key: f.value for f in d.fields if f.value.strip()}
                            for d in triage.documents},
        "missing": list(triage.missing),
        "complete": triage.complete,
        "would_acknowledge": triage.would_acknowledge,
        "acknowledge_reasons": list(triage.acknowledge_reasons),
        "flags": list(triage.flags),
        "rules_version": triage.rules_version,
    }


def state_summary(state: CaseState) -> JsonDict:
    """Return what a case's state puts in its triage summary: decisions, values, what lacks."""
    return {
        "request_type": _decision(state.request_type),
        "regulation": _decision(state.regulation),
        "language": _decision(state.language),
        "urgent": _decision(state.urgent),
        "fields": {key: f.value.value for key, f in sorted(state.fields.items())},
        "disagreements": {key: [v.value for v in f.disagreements]
                          for key, f in sorted(state.fields.items()) if f.disagreements},
        "missing": list(state.missing),
        "complete": state.complete,
        "status_reason": state.status_reason,
    }


def field_to_dict(value: FieldValue) -> JsonDict:
    """Return a value with its provenance as JSON data (``field_from_dict`` reads it back)."""
    return {"value": value.value, "raw": value.raw, "source": source_to_dict(value.source),
            "rule": value.rule, "confidence": value.confidence}


def field_from_dict(key: str, data: JsonDict) -> FieldValue:
    """Return the value ``field_to_dict`` wrote."""
    return FieldValue(key, str(data.get("value", "")), str(data.get("raw", "")),
                      source_from_dict(data.get("source"), "unknown"),
                      str(data.get("rule", "")), float(data.get("confidence", 1.0)))


def _check_status(status: str) -> None:
    """Refuse a status outside the vocabulary."""
    if status not in names(CaseStatus):
        raise StorageError(f"unknown case status {status!r}")


@storage_errors
def next_case_ref(s: Session, prefix: str, year: int, fmt: str = DEFAULT_REF_FORMAT) -> str:
    """Hand out the next case reference of a year (atomic across concurrent writers)."""
    # One statement that inserts or increments and returns: the row lock it takes is held
    # to the end of the transaction, so concurrent writers queue and no number repeats.
    insert = dialect_insert(s, CaseSequence).values(year=year, last_value=1)
    upsert = insert.on_conflict_do_update(
        index_elements=["year"], set_={"last_value": CaseSequence.last_value + 1}
    ).returning(CaseSequence.last_value)
    seq = int(s.execute(upsert).scalar_one())
    try:
        return fmt.format(prefix=prefix, year=year, seq=seq)
    except (KeyError, IndexError, ValueError) as exc:
        raise StorageError(f"bad case reference format {fmt!r}: {exc}") from exc


@storage_errors
def create_case(
    s: Session, ref: str, triage: TriageResult, subject: str, applicant_email: str | None
) -> Case:
    """File a new case from the triage of its first message."""
    urgent = triage.urgent.value == "yes"
    case = Case(
        ref=ref,
        authority=triage.authority,
        request_type=triage.request_type.value,
        regulation=triage.regulation.value,
        language=triage.language.value,
        # Filing records the case's state (triage.case) in the same transaction.
        status=derived_status(triage.checklist, opening_role(triage.kind)),
        urgent=urgent,
        urgent_reasons=list(triage.urgent.reasons) if urgent else [],
        applicant_email=normalise_address(applicant_email),
        subject=subject,
        rules_version=triage.rules_version,
        triage=triage_to_dict(triage),
    )
    s.add(case)
    s.flush()
    return case


@storage_errors
def case_by_ref(s: Session, ref: str) -> Case | None:
    """Return the case with this reference (case-insensitive, as people retype them)."""
    wanted = ref.strip().upper()
    return s.scalars(select(Case).where(func.upper(Case.ref) == wanted)).first()


@storage_errors
def case_by_message_ids(s: Session, ids: Iterable[str]) -> Case | None:
    """Return the newest case holding a message or a reply with one of these Message-IDs."""
    wanted = {m for m in (normalise_message_id(i) for i in ids) if m}
    if not wanted:
        return None
    received = select(CaseMessage.case_id).where(CaseMessage.message_id.in_(wanted))
    sent = select(OutgoingMessage.case_id).where(
        OutgoingMessage.message_id.in_(wanted), OutgoingMessage.case_id.is_not(None)
    )
    return s.scalars(
        select(Case)
        .where(or_(Case.id.in_(received), Case.id.in_(sent)))
        .order_by(Case.id.desc())
        .limit(1)
    ).first()


@storage_errors
def case_by_ack_ids(s: Session, ids: Iterable[str]) -> Case | None:
    """Return the case whose acknowledgement (a Message-ID we made) one of these ids names."""
    wanted = {m for m in (normalise_message_id(i) for i in ids) if m}
    if not wanted:
        return None
    sent = select(OutgoingMessage.case_id).where(
        OutgoingMessage.message_id.in_(wanted), OutgoingMessage.case_id.is_not(None))
    return s.scalars(select(Case).where(Case.id.in_(sent)).order_by(Case.id.desc())
                     .limit(1)).first()


# Fields whose address makes a sender known to a case, and what the address is there.
_ADDRESS_FIELDS = {"contact_email": "contact", "physician_email": "physician"}
# Roles of messages whose sender became known to the case by writing (a person, not a machine).
_CORRESPONDENT_ROLES = ("request", "follow_up", "enquiry", "other")


@storage_errors
def case_addresses(s: Session, case: Case) -> list[tuple[str, str]]:
    """Return the addresses on a case with what each is: applicant, contact, physician, writer."""
    found: list[tuple[str, str]] = []
    if case.applicant_email:
        found.append((case.applicant_email, "applicant"))
    for key, value in s.execute(select(ExtractedField.key, ExtractedField.value).where(
            ExtractedField.case_id == case.id, ExtractedField.key.in_(_ADDRESS_FIELDS),
            ExtractedField.superseded_by.is_(None))):
        found.append((value, _ADDRESS_FIELDS[key]))
    wrote = select(CaseMessage.sender).where(
        CaseMessage.case_id == case.id, CaseMessage.sender.is_not(None),
        CaseMessage.role.in_(_CORRESPONDENT_ROLES)).distinct()
    found.extend((sender, "writer of an earlier message") for sender in s.scalars(wrote)
                 if sender)
    return found


def _from_sender(address: str) -> ColumnElement[bool]:
    """Return the condition 'the case was applied for, or written to, by this address'."""
    wrote = select(CaseMessage.case_id).where(CaseMessage.sender == address)
    return or_(Case.applicant_email == address, Case.id.in_(wrote))


@storage_errors
def open_cases_for_sender(s: Session, sender: str) -> list[Case]:
    """Return the open cases (incomplete, complete) of a sender, newest first."""
    address = normalise_address(sender)
    if address is None:
        return []
    query = select(Case).where(Case.status.in_(OPEN_CASE_STATUSES), _from_sender(address))
    return list(s.scalars(query.order_by(Case.id.desc())))


@storage_errors
def case_has_document_hashes(s: Session, sender: str, hashes: Iterable[str]) -> Case | None:
    """Return the newest case of this sender that already holds all these attachments."""
    address = normalise_address(sender)
    wanted = set(hashes)
    if address is None or not wanted:
        return None
    holding = (
        select(Document.case_id)
        .where(Document.sha256.in_(wanted))
        .group_by(Document.case_id)
        .having(func.count(func.distinct(Document.sha256)) == len(wanted))
    )
    query = select(Case).where(Case.id.in_(holding), _from_sender(address))
    return s.scalars(query.order_by(Case.id.desc()).limit(1)).first()


@storage_errors
def list_cases(s: Session, *, status: str | None = None) -> list[Case]:
    """Return every case (or those with a status), oldest first."""
    query = select(Case)
    if status is not None:
        query = query.where(Case.status == status)
    return list(s.scalars(query.order_by(Case.id)))


@storage_errors
def set_status(s: Session, case: Case, status: str, actor: str, note: str, *,
               decision: bool = True) -> Case:
    """Change a case's status, with an audit event.

    ``decision``: a person decided it (it sticks: ``reviewer_decision``), rather than a
    re-checked checklist.
    """
    _check_status(status)
    case = attach(s, case)
    before = case.status
    case.status = status
    case.updated_at = utcnow()
    add_event(s, case, actor, STATUS_CHANGED,
              {"from": before, "to": status, "note": note, "decision": decision})
    return case


@storage_errors
def reviewer_decision(s: Session, case: Case) -> ReviewerDecision | None:
    """Return the status a reviewer last decided for a case, read from its audit trail.

    Events written before decisions were marked count when they set a final status.
    """
    query = (select(CaseEvent).where(CaseEvent.case_id == case.id,
                                     CaseEvent.action == STATUS_CHANGED)
             .order_by(CaseEvent.at.desc(), CaseEvent.id.desc()))
    for event in s.scalars(query):
        detail = event.detail or {}
        status = str(detail.get("to"))
        marked = detail.get("decision")
        if marked is True or (marked is None and status in FINAL_CASE_STATUSES):
            return ReviewerDecision(CaseStatus(status), event.actor, str(detail.get("note", "")))
    return None


@storage_errors
def set_checklist(
    s: Session, case: Case, items: Iterable[ChecklistItem]
) -> list[tuple[str, str, str]]:
    """Upsert checklist items; return (item_id, old_status, new_status) for each change.

    A new item is reported with an empty old status; items not given are left as they are.
    """
    query = select(ChecklistEntry).where(ChecklistEntry.case_id == case.id)
    held = {entry.item_id: entry for entry in s.scalars(query)}
    new: dict[str, dict[str, str]] = {}  # items the case did not have: one INSERT for all
    changes: list[tuple[str, str, str]] = []
    for item in items:
        entry = held.get(item.id)
        if entry is None:
            before = new[item.id]["status"] if item.id in new else ""
            new[item.id] = {"item_id": item.id, "severity": item.severity,
                            "status": item.status, "evidence": item.evidence}
        else:
            before = entry.status or ""
            entry.severity, entry.status, entry.evidence = (item.severity, item.status,
                                                            item.evidence)
        if before != item.status:
            changes.append((item.id, before, item.status))
    s.flush()
    if new:
        s.execute(insert(ChecklistEntry), [{"case_id": case.id, **row} for row in new.values()])
    return changes


@storage_errors
def case_checklist(s: Session, case: Case) -> list[ChecklistEntry]:
    """Return a case's checklist items in the order they were first set."""
    query = select(ChecklistEntry).where(ChecklistEntry.case_id == case.id)
    return list(s.scalars(query.order_by(ChecklistEntry.id)))


def entry_to_item(entry: ChecklistEntry) -> ChecklistItem:
    """Turn a stored checklist item back into the record triage works on."""
    return ChecklistItem(entry.item_id, Severity(entry.severity), ItemStatus(entry.status),
                         entry.evidence)


@storage_errors
def stored_checklist(s: Session, case: Case) -> list[ChecklistItem]:
    """Return a case's checklist as it stands."""
    return [entry_to_item(e) for e in case_checklist(s, case)]


@storage_errors
def case_missing(s: Session, case: Case) -> list[str]:
    """Return the required checklist items of a case that are not present, as stored now."""
    return list(missing_items(stored_checklist(s, case)))
