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
from config.vocabulary import MessageRole
from intake.logs import address_token, scrub_addresses
from intake.replies.compose import choose_template, compose_acknowledgement
from intake.replies.policy import count_recent, reply_decision, reply_recipient
from intake.runtime import Runtime
from intake.work import Work
from parsers.records import Extraction, ParsedMessage
from storage.cases import (
    case_addresses,
    case_by_ack_ids,
    case_by_message_ids,
    case_by_ref,
    case_has_document_hashes,
    create_case,
    next_case_ref,
    stored_checklist,
    triage_to_dict,
)
from storage.casestate import CaseRows, case_rows, record_state, rows_state
from storage.events import add_event
from storage.fields import keep_alternatives
from storage.ledger import ledger_note_clash, ledger_set_state
from storage.messages import add_documents, add_message
from storage.models import Case, Ledger
from storage.outbox import ack_recipients_since, outbox_add, recipient_domain
from storage.rule_versions import remember_rule_version
from triage.case import COUNTED_ROLES, opening_role
from triage.caseref import find_case_ref
from triage.records import ChecklistItem, TriageResult, missing_items
from triage.threading import ThreadHints, decide_join, sender_standing

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
        if self.role in (MessageRole.REQUEST, MessageRole.FOLLOW_UP):
            line += f": missing {', '.join(self.missing) if self.missing else 'nothing'}"
        return f"{line}; acknowledgement {scrub_addresses(self.acknowledgement)}"


def thread_hints(s: Session, profile: Profile, parsed: ParsedMessage,
                 extraction: Extraction) -> ThreadHints:
    """Find the cases a message names (a cited reference, a thread, our acknowledgement)
    and whether its sender is known to each: triage decides which one it may join."""
    cited = find_case_ref([parsed.subject, parsed.body_text], profile.triage)
    cited_case = None if cited is None else case_by_ref(s, cited)
    ids = [*parsed.in_reply_to, *parsed.references]
    thread = case_by_message_ids(s, ids) if ids else None
    acked = case_by_ack_ids(s, ids) if ids else None
    shared = profile.triage.kind.shared_mail_domains
    standing = {case.ref: why for case in (cited_case, thread) if case is not None
                if (why := sender_standing(parsed.sender, case_addresses(s, case), shared))}
    return ThreadHints(cited_ref=cited, ref_known=None if cited is None else cited_case is not None,
                       thread_case=thread.ref if thread is not None else None,
                       acked_case=acked.ref if acked is not None else None,
                       sender_on=tuple(standing.items()))


def file_in(s: Session, rt: Runtime, work: Work,
            clash: Ledger | None = None) -> tuple[Filed | None, Ledger | None]:
    """File a triaged message in the session's transaction and queue its acknowledgement.

    Returns what was filed and the message's ledger row as the transaction left it; nothing
    is filed (None) when the message is no longer ``received``: a retry after a commit whose
    answer was lost, or another process that filed it meanwhile. ``clash``, another filed
    message with the same Message-ID, is noted on the row.
    """
    assert work.parsed is not None and work.triage is not None
    row = s.get(Ledger, work.ledger_id)
    if row is None or row.state != "received":
        return None, row
    filed = _file_row(s, rt, work, row)
    if clash is not None:
        row = ledger_note_clash(s, row, clash)
    return filed, row


def _file_row(s: Session, rt: Runtime, work: Work, row: Ledger) -> Filed:
    """File the message of a ``received`` ledger row (see file_in)."""
    assert work.parsed is not None and work.triage is not None
    case, role, opened = _target_case(s, rt, work)
    if case is None:
        ledger_set_state(s, row, "ignored", outcome=kept_reason(work.triage))
        return _filed(None, role, work, (), "none")
    remember_rule_version(s, rt.profile(work.profile))  # what rules_version stands for
    rows = CaseRows(case, opened=True) if opened else case_rows(s, case)
    checklist = _file_into(s, rt, work, row, rows, MessageRole(role))
    ack = _queue_acknowledgement(s, rt, work, case, role, checklist)
    ledger_set_state(s, row, "filed", case_id=case.id, outcome=f"{role} {case.ref}")
    return _filed(case.ref, role, work, missing_items(checklist), ack)


def kept_reason(result: TriageResult) -> str:
    """Return why a message is kept without a case, as the digest shows it."""
    return f"{result.kind}: not filed ({'; '.join(result.kind_reasons)[:800]})"


def _filed(ref: str | None, role: str, work: Work, missing: tuple[str, ...],
           ack: str) -> Filed:
    """Build the Filed record of a message."""
    assert work.parsed is not None and work.triage is not None
    return Filed(ref, work.triage.kind, role, work.parsed.subject, work.parsed.sender,
                 missing, ack)


def _target_case(s: Session, rt: Runtime, work: Work) -> tuple[Case | None, str, bool]:
    """Return the case the message belongs to, its role in it, and whether it is new."""
    assert work.parsed is not None and work.triage is not None
    result, parsed = work.triage, work.parsed
    thread = _thread_case(s, rt, work)
    if result.kind == "automated":
        return thread, "automated", False
    if result.kind == "follow_up" and thread is not None:
        return thread, "follow_up", False
    twin = _duplicate_submission(s, parsed, result)
    if twin is not None:
        return twin, "duplicate", False
    return _new_case(s, rt, parsed, result), opening_role(result.kind), True


def _thread_case(s: Session, rt: Runtime, work: Work) -> Case | None:
    """Return the case the message may join (triage.threading decides), or None."""
    assert work.parsed is not None and work.triage is not None
    if work.hints is None:
        return None
    join = decide_join(work.parsed, work.hints, work.triage.documents,
                       rt.profile(work.profile).triage)
    if join is None or join.outcome != "join" or join.case_ref is None:
        return None
    return case_by_ref(s, join.case_ref)


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
    # The author, not a Reply-To anyone may set: the applicant's address grants standing.
    case = create_case(s, ref, result, parsed.subject, parsed.sender)
    add_event(s, case, ACTOR, "case_opened", {"kind": result.kind,
                                              "request_type": result.request_type.value})
    return case


def _file_into(s: Session, rt: Runtime, work: Work, row: Ledger, rows: CaseRows,
               role: MessageRole) -> tuple[ChecklistItem, ...]:
    """Add the message and its documents to the case; return the case's checklist."""
    assert work.parsed is not None and work.triage is not None
    result, case = work.triage, rows.case
    message = add_message(s, case, row, work.parsed, result, role)
    documents = add_documents(s, case, message, result.documents)
    rows.messages.append(message)
    rows.documents.extend(documents)
    add_event(s, case, ACTOR, "message_filed", {
        "role": role, "kind": result.kind, "message_id": work.parsed.message_id,
        "sender": work.parsed.sender, "subject": work.parsed.subject,
        "documents": [d.filename for d in result.documents],
        "fields": sorted({f.key for f in result.all_fields}),
    })
    checklist: tuple[ChecklistItem, ...]
    if role in COUNTED_ROLES:
        state = rows_state(s, rows, rt.profile(work.profile).triage)
        _log_checklist(s, case, record_state(s, rows, state, ACTOR, triage_to_dict(result)))
        checklist = state.checklist
    else:  # an auto-reply or a re-sent duplicate decides nothing about the case
        checklist = tuple(stored_checklist(s, case))
    keep_alternatives(s, case, message, result.all_fields, {d.sha256: d for d in documents},
                      history=rows.values)
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
    if role not in COUNTED_ROLES:
        return "none" if role == MessageRole.AUTOMATED else "suppressed: duplicate submission"
    reply = Reply(work.parsed, work.triage, role == MessageRole.FOLLOW_UP,
                  [d.filename for d in work.triage.documents], checklist)
    return queue_acknowledgement(s, rt, case, reply, rt.templates(work.profile), ACTOR)


def queue_acknowledgement(s: Session, rt: Runtime, case: Case, reply: Reply,
                          templates: TemplateSet, actor: str) -> str:
    """Apply the reply policy, then compose and queue the acknowledgement (or say why not)."""
    settings, replies = rt.settings, rt.settings.replies
    since = datetime.now(UTC) - timedelta(minutes=replies.rate_limit_window_minutes)
    recipient = reply_recipient(reply.parsed, replies.answer_reply_to) or ""
    recent = count_recent(recipient, ack_recipients_since(
        s, recipient_domain(recipient), since) if recipient else ())
    decision = reply_decision(
        reply.parsed, reply.result, our_addresses={settings.general.our_address.lower()},
        block_list=replies.block_list, recent_acks_to_sender=recent.to_address,
        rate_limit=replies.rate_limit_count, recent_acks_to_domain=recent.to_domain,
        domain_rate_limit=replies.rate_limit_domain_count, use_reply_to=replies.answer_reply_to,
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
        now=datetime.now(UTC), use_reply_to=replies.answer_reply_to)
    held = decision.action == "hold"
    outbox_add(s, case=case, case_message=None, message_id=mail.message_id,
               recipient=mail.recipient, subject=mail.subject, kind=mail.template,
               raw=mail.raw, held=held)
    add_event(s, case, actor, "acknowledgement_queued",
              {"message_id": mail.message_id, "template": mail.template, "held": held,
               "to": mail.recipient})
    return "held" if held else "queued"
