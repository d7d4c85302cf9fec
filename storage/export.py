"""A case as JSON data, for exports and reports: stable keys, ISO 8601 timestamps in UTC."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from storage.cases import case_checklist, case_missing
from storage.db import storage_errors
from storage.events import case_events
from storage.fields import current_fields
from storage.messages import case_documents, case_messages
from storage.models import (
    Case,
    CaseEvent,
    CaseMessage,
    ChecklistEntry,
    Document,
    ExtractedField,
    JsonDict,
    OutgoingMessage,
)
from storage.outbox import outbox_for_case


def iso(value: datetime | None) -> str | None:
    """Return a timestamp as ISO 8601, or None."""
    return value.isoformat() if value is not None else None


def field_to_dict(row: ExtractedField) -> JsonDict:
    """Return a current field value with its provenance."""
    return {
        "value": row.value,
        "raw": row.raw,
        "source": row.source,
        "source_text": row.source_text,
        "rule": row.rule,
        "confidence": row.confidence,
        "origin": row.origin,
        "actor": row.actor,
        "at": iso(row.created_at),
    }


def document_to_dict(row: Document, message_ids: dict[int, str | None]) -> JsonDict:
    """Return a document record."""
    return {
        "filename": row.filename,
        "sha256": row.sha256,
        "content_type": row.content_type,
        "size": row.size,
        "kind": row.kind,
        "kind_rule": row.kind_rule,
        "pages": row.pages,
        "error": row.error,
        "message_id": message_ids.get(row.case_message_id),
        "signatures": list(row.signatures or []),
        "page_problems": list(row.page_problems or []),
    }


def checklist_to_dict(row: ChecklistEntry) -> JsonDict:
    """Return a checklist item in the triage --json shape."""
    return {"id": row.item_id, "severity": row.severity, "status": row.status,
            "evidence": row.evidence}


def message_to_dict(row: CaseMessage) -> JsonDict:
    """Return a filed message's headers and role."""
    return {
        "message_id": row.message_id,
        "role": row.role,
        "kind": row.kind,
        "sender": row.sender,
        "subject": row.subject,
        "sent_at": iso(row.sent_at),
        "in_reply_to": row.in_reply_to,
        "references": row.references,
        "language": row.language,
        "filed_at": iso(row.created_at),
    }


def outgoing_to_dict(row: OutgoingMessage) -> JsonDict:
    """Return a reply's envelope and delivery state (not its bytes)."""
    return {
        "message_id": row.message_id,
        "recipient": row.recipient,
        "subject": row.subject,
        "kind": row.kind,
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
    }


def event_to_dict(row: CaseEvent) -> JsonDict:
    """Return an audit event."""
    return {"at": iso(row.at), "actor": row.actor, "action": row.action, "detail": row.detail}


@storage_errors
def case_to_dict(s: Session, case: Case) -> JsonDict:
    """Return everything the database holds about a case as JSON data."""
    messages = case_messages(s, case)
    message_ids = {m.id: m.message_id for m in messages}
    fields = current_fields(s, case)
    checklist = case_checklist(s, case)
    missing = case_missing(s, case)
    return {
        "ref": case.ref,
        "status": case.status,
        "authority": case.authority,
        "request_type": case.request_type,
        "regulation": case.regulation,
        "language": case.language,
        "urgent": case.urgent,
        "urgent_reasons": case.urgent_reasons,
        "applicant_email": case.applicant_email,
        "subject": case.subject,
        "rules_version": case.rules_version,
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "triage": case.triage,
        "fields": {key: field_to_dict(fields[key]) for key in sorted(fields)},
        "documents": [document_to_dict(d, message_ids) for d in case_documents(s, case)],
        "checklist": [checklist_to_dict(c) for c in checklist],
        # From the stored checklist, so a reviewer's correction shows at once.
        "missing": missing,
        "complete": bool(checklist) and not missing,
        # Values messages stated that differ from the one that stands (triage.case).
        "disagreements": (case.triage or {}).get("disagreements", {}),
        "messages": [message_to_dict(m) for m in messages],
        "outgoing": [outgoing_to_dict(o) for o in outbox_for_case(s, case)],
        "events": [event_to_dict(e) for e in case_events(s, case)],
    }


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Return a value safe for a spreadsheet cell: text that would run as a formula gets "'"."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
