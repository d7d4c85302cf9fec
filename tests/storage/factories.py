"""Records the storage tests file: real RFC 5322 bytes and the typed records of the stages."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy.orm import Session

from config.vocabulary import ItemStatus, MessageKind, Severity
from parsers.records import ExtractedDocument, FieldValue, ParsedMessage, Source
from storage.fields import (
    current_extracted,
    field_to_value,
    keep_alternatives,
    standing_writes,
    write_fields,
)
from storage.models import Case, CaseMessage, Document, ExtractedField
from storage.records import MailboxKey, RawMessage
from triage.case import message_fields
from triage.records import ChecklistItem, Decision, TriageResult

MAILBOX = "derogation.meddev@fagg-afmps.be"
APPLICANT = "regulatory@cardioflow.example"


def eml(message_id: str | None, sender: str = APPLICANT,
        subject: str = "Compassionate Use – UZ Leuven – J.D.", body: str = "Please find attached.",
        in_reply_to: str | None = None) -> bytes:
    """Return the bytes of a small e-mail written by the standard library."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Date"] = "Mon, 06 Jan 2025 09:30:00 +0100"
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    msg.set_content(body)
    return msg.as_bytes()


def raw(uid: int, data: bytes, *, uidvalidity: int = 1, folder: str = "INBOX") -> RawMessage:
    """Return a fetched message with its mailbox key."""
    key = MailboxKey(MAILBOX, folder, uidvalidity, uid)
    return RawMessage(key=key, data=data, received_at=datetime(2025, 1, 6, 8, 31, tzinfo=UTC))


def parsed(message_id: str | None, sender: str | None = APPLICANT,
           subject: str = "Compassionate Use – UZ Leuven – J.D.",
           in_reply_to: tuple[str, ...] = (), references: tuple[str, ...] = ()) -> ParsedMessage:
    """Return a parsed message with the headers the storage keeps."""
    return ParsedMessage(
        message_id=message_id, in_reply_to=in_reply_to, references=references, sender=sender,
        sender_name="Jane Doe", reply_to=None, return_path=sender, to=(MAILBOX,), cc=(),
        subject=subject, date=datetime(2025, 1, 6, 8, 30, tzinfo=UTC), headers=(),
        content_type="multipart/mixed", body_text="Please find attached.", body_html=None,
        attachments=(),
    )


def document(filename: str, content: bytes, kind: str = "form_part1",
             fields: tuple[FieldValue, ...] = ()) -> ExtractedDocument:
    """Return what extraction learned from one attachment."""
    return ExtractedDocument(
        filename=filename, sha256=hashlib.sha256(content).hexdigest(),
        content_type="application/pdf", size=len(content), kind=kind,
        kind_rule=f"famhp.kind.{kind}#0", pages=2, language="fr", text="", fields=fields,
    )


def field(key: str, value: str, *, doc: ExtractedDocument | None = None,
          confidence: float = 0.9, page: int | None = 1, form_field: str | None = "Text1",
          rule: str | None = None) -> FieldValue:
    """Return a field value found in a document (or in the body when doc is None)."""
    if doc is None:
        source = Source(filename=None, sha256=None, channel="body", line=3)
    else:
        source = Source(filename=doc.filename, sha256=doc.sha256, channel="acroform",
                        page=page, form_field=form_field)
    return FieldValue(key=key, value=value, raw=value, source=source,
                      rule=rule or f"famhp.label.{key}#0", confidence=confidence)


def checklist(**statuses: str) -> tuple[ChecklistItem, ...]:
    """Return required checklist items with the given statuses."""
    return tuple(ChecklistItem(item, Severity.REQUIRED, ItemStatus(status), f"{item}: {status}")
                 for item, status in statuses.items())


def record_values(s: Session, case: Case, msg: CaseMessage | None,
                  candidates: Sequence[FieldValue],
                  documents_by_sha: Mapping[str, Document]) -> list[ExtractedField]:
    """Record a message's values as filing does when the message's values stand."""
    standing = {key: (field_to_value(row), row.case_message_id)
                for key, row in current_extracted(s, case).items()}
    msg_id = msg.id if msg is not None else None
    standing |= {key: (value, msg_id) for key, value in message_fields(candidates).items()}
    writes = standing_writes(current_extracted(s, case), standing)
    added = write_fields(s, case, writes, list(documents_by_sha.values()), "test")
    return added + keep_alternatives(s, case, msg, candidates, documents_by_sha)


def triage(kind: str = "new_request", *, language: str = "fr",
           request_type: str | None = "compassionate_use", regulation: str | None = "MDR",
           urgent: bool = False, fields: tuple[FieldValue, ...] = (),
           documents: tuple[ExtractedDocument, ...] = (),
           items: tuple[ChecklistItem, ...] = (), rules_version: str = "rules-v1") -> TriageResult:
    """Return a triage result as the triage stage would."""
    return TriageResult(
        kind=MessageKind(kind), kind_reasons=("famhp.kind.new_request#0",),
        language=Decision(language, ("lingua: fr 0.93",)), authority="famhp",
        request_type=Decision(request_type, ("subject: Compassionate Use",)),
        regulation=Decision(regulation, ("field regulation",)),
        urgent=Decision("yes" if urgent else "no", ("body: 'urgent'",) if urgent else ()),
        case_ref=None, fields={f.key: f for f in fields}, all_fields=fields,
        documents=documents, checklist=items, would_acknowledge=True,
        rules_version=rules_version,
    )
