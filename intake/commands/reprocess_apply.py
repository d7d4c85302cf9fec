"""Writing a `reprocess` plan: values, document kinds, checklist, case, messages and the event.

``apply_plan`` records what ``intake.commands.reprocess_plan.plan_case`` computed, in the caller's
transaction; ``acknowledge`` queues a follow-up acknowledgement when what is missing changed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from intake.commands.reprocess_plan import (
    DECIDED,
    CurrentRules,
    FieldWrite,
    Plan,
    Reading,
    _rechecked,
)
from intake.filing import Reply, queue_acknowledgement
from intake.runtime import Runtime
from parsers.records import FieldValue, Source
from storage.cases import set_checklist, triage_to_dict
from storage.events import add_event
from storage.fields import add_fields
from storage.messages import case_documents
from storage.models import Case, utcnow

ACTOR = "reprocess"
WITHDRAWN_RULE = "reprocess"  # rule of the empty value that supersedes one no longer found


# --- writing it -----------------------------------------------------------------------------


def apply_plan(s: Session, plan: Plan) -> None:
    """Record the new state: values, kinds, checklist, case and messages, and the event."""
    case = plan.case
    for write in plan.field_writes:
        _write_field(s, case, write, plan.version)
    for row, document in plan.kind_writes:
        row.kind, row.kind_rule = document.kind, document.kind_rule
    set_checklist(s, case, plan.checklist)
    old_version = case.rules_version
    _write_case(case, plan)
    for reading in plan.readings:
        _write_message(reading)
    add_event(s, case, ACTOR, "reprocessed", {
        "from_rules": old_version, "to_rules": plan.version,
        "changes": [c.to_json() for c in plan.changes]})
    s.flush()


def _write_field(s: Session, case: Case, write: FieldWrite, version: str) -> None:
    """Add the new candidates (superseding the old value), or an empty value to withdraw it."""
    if not write.candidates:
        gone = FieldValue(write.key, "", "", Source(None, None, WITHDRAWN_RULE),
                          f"{WITHDRAWN_RULE}: not found by rules {version}", 0.0)
        add_fields(s, case, None, [gone], {})
        return
    assert write.message is not None
    by_sha = {d.sha256: d for d in case_documents(s, case)
              if d.case_message_id == write.message.id}
    add_fields(s, case, write.message, write.candidates, by_sha)


def _write_case(case: Case, plan: Plan) -> None:
    """Set the case's decisions, status and rules version (the case row is locked)."""
    merged = plan.merged_triage()
    case.triage = triage_to_dict(merged)
    case.request_type = plan.request_type.value
    case.regulation = plan.regulation.value
    case.language = plan.language.value
    case.urgent = plan.urgent
    case.urgent_reasons = list(plan.urgent_reasons)
    case.status = plan.status
    case.rules_version = plan.version
    case.updated_at = utcnow()


def _write_message(reading: Reading) -> None:
    """Record what the current rules say about one filed message."""
    row, result = reading.row, reading.result
    row.kind = result.kind
    row.language = result.language.value
    row.triage = triage_to_dict(result)
    row.rules_version = result.rules_version


# --- the acknowledgement (--acknowledge) ----------------------------------------------------


def acknowledge(s: Session, rt: Runtime, rules: CurrentRules, plan: Plan,
                missing_before: set[str]) -> str:
    """Queue a follow-up acknowledgement of the latest message, as filing would."""
    case = plan.case
    if case.status in DECIDED:
        return "none (a reviewer has decided the case)"
    if set(plan.missing) == missing_before:
        return "none (what is missing did not change)"
    reading = _rechecked(plan.readings)[-1]  # the applicant's latest message is answered
    merged = plan.merged_triage()
    reply = Reply(reading.parsed, merged, True,
                  [d.filename for d in reading.result.documents], plan.checklist)
    return queue_acknowledgement(s, rt, case, reply, rules.templates(case.authority), ACTOR)
