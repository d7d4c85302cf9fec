"""A case's state, read from the database and written back; ``triage.case`` decides it.

``stored_case_state`` reads what ``triage.case.case_state`` decides from: each filed message's
decisions and stated values (kept in the message's ``triage`` when it was filed or
reprocessed) and documents, the reviewers' current values and the reviewer's decision (from
the audit trail). ``record_case_state`` writes a state: the current extracted values, the
checklist and the case row. None of these functions commits.

Filing reads a case once (``CaseRows``: its messages, documents and values) and keeps that
copy up to date with what it writes, instead of asking the database again at each step; a
case opened in the same transaction has nothing to read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from config.triage_rules import TriageRules
from config.vocabulary import FieldOrigin, MessageRole
from storage.cases import field_from_dict, reviewer_decision, set_checklist, state_summary
from storage.db import storage_errors
from storage.fields import (
    FieldWrite,
    current_of,
    field_history,
    field_to_value,
    reviewer_values_of,
    standing_writes,
    write_fields,
)
from storage.messages import case_documents, case_messages, document_to_record
from storage.models import Case, CaseMessage, Document, ExtractedField, JsonDict, utcnow
from storage.sql import attach
from triage.case import CaseState, MessageFacts, ReviewerDecision, case_state, message_fields
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


@dataclass
class CaseRows:
    """A case's filed messages, documents and values (every one, id order), read once.

    The writes of ``record_state`` and of filing add to these lists, so that they stay what
    the database holds within the transaction. ``opened``: the case was opened in this
    transaction, so no reviewer has decided it.
    """

    case: Case
    messages: list[CaseMessage] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    values: list[ExtractedField] = field(default_factory=list)
    opened: bool = False


@storage_errors
def case_rows(s: Session, case: Case) -> CaseRows:
    """Read what the database holds of a case (three queries)."""
    case = attach(s, case)
    return CaseRows(case, case_messages(s, case), case_documents(s, case),
                    field_history(s, case))


def rows_facts(rows: CaseRows) -> list[MessageFacts]:
    """Return what each filed message of a case says, in the order they were filed."""
    documents: dict[int, list[Document]] = defaultdict(list)
    for document in rows.documents:
        documents[document.case_message_id].append(document)
    extracted: dict[int | None, list[ExtractedField]] = defaultdict(list)
    for value in rows.values:
        if value.origin == FieldOrigin.EXTRACTED:
            extracted[value.case_message_id].append(value)
    return [message_facts(m, documents[m.id], extracted[m.id]) for m in rows.messages]


@storage_errors
def rows_state(s: Session, rows: CaseRows, rules: TriageRules) -> CaseState:
    """Return a case's state from its rows and its reviewer's decision."""
    decision: ReviewerDecision | None = (None if rows.opened
                                         else reviewer_decision(s, rows.case))
    return case_state(rows_facts(rows), reviewer_values_of(rows.values), decision, rules)


@storage_errors
def stored_case_state(s: Session, case: Case, rules: TriageRules) -> CaseState:
    """Return a case's state from what the database holds about it."""
    return rows_state(s, case_rows(s, case), rules)


@storage_errors
def field_writes(s: Session, case: Case, state: CaseState) -> list[FieldWrite]:
    """What makes a case's current extracted values the state's (filing-order messages)."""
    return rows_field_writes(case_rows(s, case), state)


def rows_field_writes(rows: CaseRows, state: CaseState) -> list[FieldWrite]:
    """What makes a case's current extracted values the state's (filing-order messages).

    A key a reviewer corrected is settled: values found beneath the correction are kept
    as alternatives, not made current.
    """
    ids = [m.id for m in rows.messages]
    settled = {key for key, f in state.fields.items() if f.corrected}
    standing = {key: (f.extracted, ids[f.message]) for key, f in state.fields.items()
                if f.extracted is not None and f.message is not None and key not in settled}
    current = {k: row for k, row in current_of(rows.values).items() if k not in settled}
    return standing_writes(current, standing)


@storage_errors
def record_case_state(s: Session, case: Case, state: CaseState, actor: str,
                      summary: JsonDict | None = None) -> list[tuple[str, str, str]]:
    """Write a case's state; return the checklist changes (item, old status, new status).

    ``state`` was decided over the case's filed messages in filing order. ``summary`` is the
    triage of the message that led to it (kept on the case, widened by the state).
    """
    return record_state(s, case_rows(s, case), state, actor, summary)


@storage_errors
def record_state(s: Session, rows: CaseRows, state: CaseState, actor: str,
                 summary: JsonDict | None = None) -> list[tuple[str, str, str]]:
    """``record_case_state`` over rows already read (they take the new values)."""
    case = attach(s, rows.case)
    write_fields(s, case, rows_field_writes(rows, state), rows.documents, withdrawn_by=actor,
                 history=rows.values)
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
