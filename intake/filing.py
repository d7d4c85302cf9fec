"""Filing: a triaged message becomes a case (or joins one), with its acknowledgement queued.

Everything here happens in one transaction per message, so the case, its checklist, its
event log and the acknowledgement that reports them are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from config.profiles import Profile
from config.templates import TemplateSet
from intake.logs import address_token, scrub_addresses
from intake.replies.compose import choose_template, compose_acknowledgement
from intake.replies.policy import reply_decision, reply_recipient
from intake.runtime import Runtime
from intake.work import Work
from parsers.records import ExtractedDocument, Extraction, FieldValue, ParsedMessage, Signature
from parsers.records import Source as FieldSource
from storage.cases import (
    case_by_message_ids,
    case_by_ref,
    case_checklist,
    case_has_document_hashes,
    create_case,
    next_case_ref,
    set_checklist,
    status_from_triage,
    update_case_triage,
)
from storage.events import add_event
from storage.fields import add_fields, current_fields
from storage.ledger import ledger_set_state
from storage.messages import add_documents, add_message, case_documents
from storage.models import Case, Document, ExtractedField, Ledger
from storage.outbox import acks_sent_to_since, outbox_add
from triage.caseref import find_case_ref
from triage.checklist import evaluate_checklist
from triage.kind import ThreadHints
from triage.records import ChecklistItem, TriageResult

ACTOR = "intake"


@dataclass(frozen=True)
class Filed:
    """The outcome of filing one message, for the log and the command line."""

    case_ref: str | None
    kind: str
    role: str
    subject: str
    sender: str | None
    missing: tuple[str, ...]
    acknowledgement: str  # "queued", "held", "suppressed: <reason>", "none"

    def log_line(self) -> str:
        """Return the one line logged (and printed by `poll`) per message: no address in it."""
        sender = address_token(self.sender)
        if self.case_ref is None:
            return f"kept {self.kind} message from {sender}: no case, no acknowledgement"
        line = f"filed {self.case_ref} ({self.role}) from {sender}"
        if self.role in ("request", "follow_up"):
            line += f": missing {', '.join(self.missing) if self.missing else 'nothing'}"
        return f"{line}; acknowledgement {scrub_addresses(self.acknowledgement)}"


def thread_hints(s: Session, profile: Profile, parsed: ParsedMessage,
                 extraction: Extraction) -> ThreadHints:
    """Find the case a message refers to: a cited reference or a thread we know."""
    cited = find_case_ref([parsed.subject, parsed.body_text], profile.triage)
    known = None if cited is None else case_by_ref(s, cited) is not None
    ids = [*parsed.in_reply_to, *parsed.references]
    thread = case_by_message_ids(s, ids) if ids else None
    return ThreadHints(cited_ref=cited, ref_known=known,
                       thread_case=thread.ref if thread is not None else None)


def file_work(rt: Runtime, work: Work) -> Filed:
    """File a triaged message in one transaction and queue its acknowledgement."""
    assert work.parsed is not None and work.triage is not None
    with rt.database.session() as s:
        row = s.get(Ledger, work.ledger_id)
        assert row is not None
        case, role = _target_case(s, rt, work)
        if case is None:
            ledger_set_state(s, row, "ignored", outcome=f"{work.triage.kind}: not filed")
            return _filed(None, role, work, (), "none")
        checklist = _file_into(s, rt, work, row, case, role)
        ack = _queue_acknowledgement(s, rt, work, case, role, checklist)
        ledger_set_state(s, row, "filed", case_id=case.id, outcome=f"{role} {case.ref}")
        missing = tuple(i.id for i in checklist
                        if i.severity == "required" and i.status in ("missing", "unclear"))
        return _filed(case.ref, role, work, missing, ack)


def _filed(ref: str | None, role: str, work: Work, missing: tuple[str, ...],
           ack: str) -> Filed:
    """Build the Filed record of a message."""
    assert work.parsed is not None and work.triage is not None
    return Filed(ref, work.triage.kind, role, work.parsed.subject, work.parsed.sender,
                 missing, ack)


def _target_case(s: Session, rt: Runtime, work: Work) -> tuple[Case | None, str]:
    """Return the case the message belongs to (new or existing) and its role in it."""
    assert work.parsed is not None and work.triage is not None
    result, parsed = work.triage, work.parsed
    thread = _thread_case(s, work)
    if result.kind == "automated":
        return thread, "automated"
    if result.kind == "follow_up" and thread is not None:
        return thread, "follow_up"
    twin = _duplicate_submission(s, parsed, result)
    if twin is not None:
        return twin, "duplicate"
    role = {"new_request": "request", "enquiry": "enquiry"}.get(result.kind, "other")
    return _new_case(s, rt, parsed, result), role


def _thread_case(s: Session, work: Work) -> Case | None:
    """Return the case a cited reference or the thread points at."""
    hints = work.hints
    if hints is None:
        return None
    for ref in (hints.cited_ref if hints.ref_known else None, hints.thread_case):
        if ref:
            case = case_by_ref(s, ref)
            if case is not None:
                return case
    return None


def _duplicate_submission(s: Session, parsed: ParsedMessage, result: TriageResult) -> Case | None:
    """Return the case that already holds every attachment of this sender's message."""
    hashes = {d.sha256 for d in result.documents}
    if not hashes or not parsed.sender:
        return None
    return case_has_document_hashes(s, parsed.sender, hashes)


def _new_case(s: Session, rt: Runtime, parsed: ParsedMessage, result: TriageResult) -> Case:
    """Open a case with the next reference of the year."""
    general = rt.settings.general
    # The year of filing in the agency's time zone, not the sender's Date header.
    year = datetime.now(ZoneInfo(general.timezone)).year
    ref = next_case_ref(s, general.case_ref_prefix, year, general.case_ref_format)
    case = create_case(s, ref, result, parsed.subject, parsed.reply_to or parsed.sender)
    add_event(s, case, ACTOR, "case_opened", {"kind": result.kind,
                                              "request_type": result.request_type.value})
    return case


def _file_into(s: Session, rt: Runtime, work: Work, row: Ledger, case: Case,
               role: str) -> tuple[ChecklistItem, ...]:
    """Add the message, its documents and fields to the case; return the new checklist."""
    assert work.parsed is not None and work.triage is not None
    result = work.triage
    message = add_message(s, case, row, work.parsed, result, role)
    documents = add_documents(s, case, message, result.documents)
    add_fields(s, case, message, result.all_fields, {d.sha256: d for d in documents})
    add_event(s, case, ACTOR, "message_filed", {
        "role": role, "kind": result.kind, "message_id": work.parsed.message_id,
        "sender": work.parsed.sender, "subject": work.parsed.subject,
        "documents": [d.filename for d in result.documents],
        "fields": sorted({f.key for f in result.all_fields}),
    })
    if role in ("automated", "duplicate"):
        return tuple(_stored_checklist(s, case))
    return _recheck(s, rt, work, case, role)


def _recheck(s: Session, rt: Runtime, work: Work, case: Case,
             role: str) -> tuple[ChecklistItem, ...]:
    """Re-evaluate the case's checklist over every document and current field it holds."""
    assert work.parsed is not None and work.triage is not None
    result = work.triage
    profile = rt.profile(work.profile)
    request_type = case.request_type or result.request_type.value
    fields = {k: field_to_value(v) for k, v in current_fields(s, case).items()}
    documents = [document_to_record(d) for d in case_documents(s, case)]
    checklist: tuple[ChecklistItem, ...] = ()
    if request_type:
        checklist = evaluate_checklist(request_type, fields, documents, case.subject,
                                       profile.triage)
    _log_checklist(s, case, set_checklist(s, case, checklist))
    merged = _merged_triage(result, case, request_type, fields, checklist)
    update_case_triage(s, case, merged, _case_status(case, merged, role))
    return checklist


def _log_checklist(s: Session, case: Case, changes: list[tuple[str, str, str]]) -> None:
    """Record a first evaluation as one event, later changes one event each."""
    if changes and all(not old for _, old, _ in changes):
        by_status: dict[str, list[str]] = {}
        for item_id, _, new in changes:
            by_status.setdefault(new, []).append(item_id)
        add_event(s, case, ACTOR, "checklist_evaluated", by_status)
        return
    for item_id, old, new in changes:
        add_event(s, case, ACTOR, "checklist_changed", {"item": item_id, "from": old, "to": new})


def _merged_triage(result: TriageResult, case: Case, request_type: str | None,
                   fields: dict[str, FieldValue],
                   checklist: tuple[ChecklistItem, ...]) -> TriageResult:
    """Return the message's triage widened to the whole case (fields, checklist)."""
    from dataclasses import replace

    from triage.records import Decision

    rt_decision = result.request_type
    if request_type and request_type != rt_decision.value:
        rt_decision = Decision(request_type, ("kept from the case",))
    regulation = result.regulation
    if case.regulation and not regulation.value:
        regulation = Decision(case.regulation, ("kept from the case",))
    return replace(result, request_type=rt_decision, regulation=regulation, fields=fields,
                   checklist=checklist)


def _case_status(case: Case, merged: TriageResult, role: str) -> str:
    """Keep a reviewer's decision; otherwise derive the status from the checklist."""
    if case.status in ("granted", "refused", "withdrawn", "closed"):
        return case.status
    if role == "enquiry" or (role == "other" and not merged.checklist):
        return "enquiry" if role == "enquiry" else "incomplete"
    return status_from_triage(merged)


def _stored_checklist(s: Session, case: Case) -> list[ChecklistItem]:
    """Return the case's checklist as it stands."""
    return [ChecklistItem(e.item_id, e.severity, e.status, e.evidence)  # type: ignore[arg-type]
            for e in case_checklist(s, case)]


@dataclass(frozen=True)
class Reply:
    """What an acknowledgement answers: the applicant's message and the case as it stands."""

    parsed: ParsedMessage
    result: TriageResult  # the message's triage, widened to the case
    case_known: bool  # a follow-up of a case we hold
    documents_received: Sequence[str]
    checklist: Sequence[ChecklistItem]


def _queue_acknowledgement(s: Session, rt: Runtime, work: Work, case: Case, role: str,
                           checklist: Sequence[ChecklistItem]) -> str:
    """Compose the acknowledgement and put it in the outbox, or record why not."""
    assert work.parsed is not None and work.triage is not None
    if role in ("automated", "duplicate"):
        return "none" if role == "automated" else "suppressed: duplicate submission"
    reply = Reply(work.parsed, work.triage, role == "follow_up",
                  [d.filename for d in work.triage.documents], checklist)
    return queue_acknowledgement(s, rt, case, reply, rt.templates(work.profile), ACTOR)


def queue_acknowledgement(s: Session, rt: Runtime, case: Case, reply: Reply,
                          templates: TemplateSet, actor: str) -> str:
    """Apply the reply policy, then compose and queue the acknowledgement (or say why not)."""
    settings, replies = rt.settings, rt.settings.replies
    since = datetime.now(UTC) - timedelta(minutes=replies.rate_limit_window_minutes)
    recipient = reply_recipient(reply.parsed) or ""
    decision = reply_decision(
        reply.parsed, reply.result, our_addresses={settings.general.our_address.lower()},
        block_list=replies.block_list,
        recent_acks_to_sender=acks_sent_to_since(s, recipient, since) if recipient else 0,
        rate_limit=replies.rate_limit_count,
        hold=replies.hold or case.authority in replies.per_profile_hold)
    if decision.action == "suppress":
        add_event(s, case, actor, "acknowledgement_suppressed",
                  {"reason": decision.reason, "flag": decision.flag})
        return f"suppressed: {decision.reason}"
    general = settings.general
    mail = compose_acknowledgement(
        reply.parsed, reply.result, case_ref=case.ref,
        template=choose_template(reply.result, case_known=reply.case_known),
        documents_received=reply.documents_received, checklist=reply.checklist,
        templates=templates, our_address=general.our_address,
        our_domain=general.our_domain or general.our_address.split("@")[-1],
        now=datetime.now(UTC))
    held = decision.action == "hold"
    outbox_add(s, case=case, case_message=None, message_id=mail.message_id,
               recipient=mail.recipient, subject=mail.subject, kind=mail.template,
               raw=mail.raw, held=held)
    add_event(s, case, actor, "acknowledgement_queued",
              {"message_id": mail.message_id, "template": mail.template, "held": held,
               "to": mail.recipient})
    return "held" if held else "queued"


def field_to_value(row: ExtractedField) -> FieldValue:
    """Turn a stored field row back into the record triage works on."""
    known = {k: v for k, v in (row.source or {}).items() if k in FieldSource.__dataclass_fields__}
    known.setdefault("filename", None)
    known.setdefault("sha256", None)
    known.setdefault("channel", row.origin)
    return FieldValue(row.key, row.value, row.raw, FieldSource(**known), row.rule,
                      row.confidence)


def document_to_record(row: Document) -> ExtractedDocument:
    """Turn a stored document row back into the record the checklist works on."""
    signatures = tuple(
        Signature(name=str(sig.get("name", "")), signed=bool(sig.get("signed")),
                  page=sig.get("page"),
                  source=FieldSource(row.filename, row.sha256, "acroform"))
        for sig in row.signatures or []
    )
    return ExtractedDocument(
        filename=row.filename, sha256=row.sha256, content_type=row.content_type,
        size=row.size, kind=row.kind, kind_rule=row.kind_rule, pages=row.pages,
        language=None, text="", fields=(), signatures=signatures, error=row.error,
        error_detail=row.error_detail or "")
