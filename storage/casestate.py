"""A case's state, read from the database and written back; ``triage.case`` decides it.

``stored_case_state`` reads what ``triage.case.case_state`` decides from: each filed message's
decisions and stated values (kept in the message's ``triage`` when it was filed or
reprocessed) and documents, the reviewers' current values and the reviewer's decision (from
the audit trail). ``record_case_state`` writes a state: the current extracted values, the
checklist and the case row. None of these functions commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.triage_rules import TriageRules
from config.vocabulary import FieldOrigin, MessageRole
from storage.cases import field_from_dict, reviewer_decision, set_checklist, state_summary
from storage.db import storage_errors
from storage.fields import (
    FieldWrite,
    current_extracted,
    field_to_value,
    reviewer_values,
    standing_writes,
    write_fields,
)
from storage.messages import case_documents, case_messages, document_to_record
from storage.models import Case, CaseMessage, Document, ExtractedField, JsonDict, utcnow
from storage.sql import attach
from triage.case import CaseState, MessageFacts, case_state, message_fields
from triage.records import Decision


def _decision(data: Any) -> Decision:
    """Read a decision as ``triage_to_dict`` wrote it."""
    if not isinstance(data, dict):
        return Decision(None)
    value = data.get("value")
    return Decision(str(value) if value else None, tuple(map(str, data.get("reasons") or ())))


def message_facts(row: CaseMessage, documents: Sequence[Document],
                  rows: Sequence[ExtractedField]) -> MessageFacts:
    """Return what a filed message says, as filing (or the last reprocess) recorded it.

    A message filed before messages kept their stated values falls back on the extracted
    values recorded from it (``rows``).
    """
    triage: JsonDict = row.triage or {}
    stated = triage.get("stated")
    fields = ({key: field_from_dict(key, data) for key, data in stated.items()}
              if isinstance(stated, dict) else message_fields(map(field_to_value, rows)))
    held = triage.get("document_fields") or {}
    return MessageFacts(
        role=MessageRole(row.role), subject=row.subject,
        request_type=_decision(triage.get("request_type")),
        regulation=_decision(triage.get("regulation")),
        language=_decision(triage.get("language")), urgent=_decision(triage.get("urgent")),
        fields=fields, documents=tuple(document_to_record(d, held.get(d.sha256) or {})
                                       for d in documents))


@storage_errors
def case_facts(s: Session, case: Case) -> list[MessageFacts]:
    """Return what each filed message of a case says, in the order they were filed."""
    documents: dict[int, list[Document]] = defaultdict(list)
    for document in case_documents(s, case):
        documents[document.case_message_id].append(document)
    rows: dict[int | None, list[ExtractedField]] = defaultdict(list)
    query = select(ExtractedField).where(ExtractedField.case_id == case.id,
                                         ExtractedField.origin == FieldOrigin.EXTRACTED)
    for field in s.scalars(query.order_by(ExtractedField.id)):
        rows[field.case_message_id].append(field)
    return [message_facts(m, documents[m.id], rows[m.id]) for m in case_messages(s, case)]


@storage_errors
def stored_case_state(s: Session, case: Case, rules: TriageRules) -> CaseState:
    """Return a case's state from what the database holds about it."""
    return case_state(case_facts(s, case), reviewer_values(s, case), reviewer_decision(s, case),
                      rules)


@storage_errors
def field_writes(s: Session, case: Case, state: CaseState) -> list[FieldWrite]:
    """What makes a case's current extracted values the state's (filing-order messages).

    A key a reviewer corrected is settled: values found beneath the correction are kept
    as alternatives, not made current.
    """
    ids = [m.id for m in case_messages(s, case)]
    settled = {key for key, f in state.fields.items() if f.corrected}
    standing = {key: (f.extracted, ids[f.message]) for key, f in state.fields.items()
                if f.extracted is not None and f.message is not None and key not in settled}
    current = {k: row for k, row in current_extracted(s, case).items() if k not in settled}
    return standing_writes(current, standing)


@storage_errors
def record_case_state(s: Session, case: Case, state: CaseState, actor: str,
                      summary: JsonDict | None = None) -> list[tuple[str, str, str]]:
    """Write a case's state; return the checklist changes (item, old status, new status).

    ``state`` was decided over the case's filed messages in filing order. ``summary`` is the
    triage of the message that led to it (kept on the case, widened by the state).
    """
    case = attach(s, case)
    write_fields(s, case, field_writes(s, case, state), case_documents(s, case),
                 withdrawn_by=actor)
    changes = set_checklist(s, case, state.checklist)
    summary = dict(case.triage or {}) if summary is None else summary
    case.triage = {**summary, **state_summary(state)}
    case.request_type = state.request_type.value
    case.regulation = state.regulation.value
    case.language = state.language.value
    case.urgent = state.urgent.value == "yes"
    case.urgent_reasons = list(state.urgent.reasons) if case.urgent else []
    case.status = state.status
    case.rules_version = str(summary.get("rules_version") or case.rules_version)
    case.updated_at = utcnow()
    s.flush()
    return changes
