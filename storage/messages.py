"""Messages filed under a case and the documents they carried.

None of these functions commits: the caller's ``Database.session()`` block is the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.errors import StorageError
from config.vocabulary import MessageRole, names
from parsers.records import (
    DocumentPart,
    ExtractedDocument,
    FieldValue,
    PageProblem,
    ParsedMessage,
    Signature,
    Source,
)
from storage.cases import triage_to_dict
from storage.db import storage_errors
from storage.fields import source_from_dict, source_to_dict
from storage.models import Case, CaseMessage, Document, JsonDict, Ledger, utcnow
from storage.sql import attach, normalise_address, normalise_message_id
from triage.records import TriageResult

__all__ = ["add_documents", "add_message", "case_documents", "case_messages",
           "document_to_record"]


def _message_ids(values: Iterable[str]) -> list[str]:
    """Return Message-IDs normalised, empty ones dropped, order kept."""
    return [m for m in (normalise_message_id(v) for v in values) if m]


def _storable_date(value: datetime | None) -> datetime | None:
    """Return a Date header's time, or None when it cannot be expressed in UTC."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        return None  # e.g. "01 Jan 0001 +0100": a sender's bad clock must not fail the message


@storage_errors
def add_message(
    s: Session,
    case: Case,
    ledger: Ledger | None,
    parsed: ParsedMessage,
    triage: TriageResult,
    role: str,
) -> CaseMessage:
    """File a message under a case (a mailbox message is filed at most once)."""
    if role not in names(MessageRole):
        raise StorageError(f"unknown message role {role!r}")
    message = CaseMessage(
        case_id=case.id,
        ledger_id=ledger.id if ledger is not None else None,
        message_id=normalise_message_id(parsed.message_id),
        role=role,
        kind=triage.kind,
        sender=normalise_address(parsed.sender),
        subject=parsed.subject,
        sent_at=_storable_date(parsed.date),
        in_reply_to=_message_ids(parsed.in_reply_to),
        references=_message_ids(parsed.references),
        language=triage.language.value,
        triage=triage_to_dict(triage),
        rules_version=triage.rules_version,
    )
    s.add(message)
    attach(s, case).updated_at = utcnow()
    s.flush()
    return message


@storage_errors
def add_documents(
    s: Session, case: Case, msg: CaseMessage, documents: Iterable[ExtractedDocument]
) -> list[Document]:
    """Record the documents a filed message carried."""
    rows = [
        Document(
            case_id=case.id,
            case_message_id=msg.id,
            filename=d.filename,
            content_type=d.content_type,
            size=d.size,
            sha256=d.sha256,
            kind=d.kind,
            kind_rule=d.kind_rule,
            pages=d.pages,
            error=d.error,
            error_detail=d.error_detail or None,
            signatures=[signature_to_dict(g) for g in d.signatures],
            page_problems=[{"page": p.page, "reason": p.reason, "detail": p.detail}
                           for p in d.page_problems],
            parts=[part_to_dict(p) for p in d.parts],
        )
        for d in documents
    ]
    s.add_all(rows)
    s.flush()
    return rows


def signature_to_dict(signature: Signature) -> JsonDict:
    """A signature as stored: name, state, page, and on a scan what was seen and where."""
    stored: JsonDict = {"name": signature.name, "signed": signature.signed,
                        "page": signature.page, "channel": signature.source.channel,
                        "source": source_to_dict(signature.source)}
    if signature.evidence:
        stored.update(evidence=signature.evidence, picture=signature.picture)
    return stored


@storage_errors
def case_documents(s: Session, case: Case) -> list[Document]:
    """Return a case's documents in the order they arrived."""
    query = select(Document).where(Document.case_id == case.id).order_by(Document.id)
    return list(s.scalars(query))


@storage_errors
def case_messages(s: Session, case: Case) -> list[CaseMessage]:
    """Return the messages filed under a case in the order they were filed."""
    query = select(CaseMessage).where(CaseMessage.case_id == case.id).order_by(CaseMessage.id)
    return list(s.scalars(query))


def document_to_record(row: Document, values: Mapping[str, str]) -> ExtractedDocument:
    """Turn a stored document row back into the record the checklist works on.

    ``values``: the field values the document held (the checklist's signature fallback).
    """
    where = Source(row.filename, row.sha256, "stored")
    signatures = tuple(
        Signature(name=str(sig.get("name", "")), signed=bool(sig.get("signed")),
                  page=sig.get("page"),
                  source=(source_from_dict(sig["source"], "acroform") if "source" in sig
                          else Source(row.filename, row.sha256,
                                      str(sig.get("channel") or "acroform"))),
                  evidence=str(sig.get("evidence") or ""),
                  picture=str(sig.get("picture") or ""))
        for sig in row.signatures or []
    )
    problems = tuple(PageProblem(int(p.get("page") or 0), str(p.get("reason") or ""),
                                 str(p.get("detail") or ""))
                     for p in row.page_problems or [])
    fields = tuple(FieldValue(key, value, value, where, "", 1.0) for key, value in values.items())
    return ExtractedDocument(
        filename=row.filename, sha256=row.sha256, content_type=row.content_type,
        size=row.size, kind=row.kind, kind_rule=row.kind_rule, pages=row.pages,
        language=None, text="", fields=fields, signatures=signatures, error=row.error,
        error_detail=row.error_detail or "", page_problems=problems,
        parts=tuple(part_from_dict(p) for p in row.parts or []))


def part_to_dict(part: DocumentPart) -> JsonDict:
    """One part of a file as stored with its document."""
    return {"kind": part.kind, "kind_rule": part.kind_rule, "where": part.where,
            "first_page": part.first_page, "last_page": part.last_page}


def part_from_dict(stored: JsonDict) -> DocumentPart:
    """A stored part back as the record the checklist counts."""
    def page(key: str) -> int | None:
        value = stored.get(key)
        return int(value) if value is not None else None
    return DocumentPart(kind=str(stored.get("kind") or "other"),
                        kind_rule=stored.get("kind_rule"), where=str(stored.get("where") or ""),
                        first_page=page("first_page"), last_page=page("last_page"))
