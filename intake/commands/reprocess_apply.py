"""Writing a `reprocess` plan: values, document kinds, checklist, case, messages and the event.

``apply_plan`` records what ``intake.commands.reprocess_plan.plan_case`` computed, in the caller's
transaction; ``acknowledge`` queues a follow-up acknowledgement when what is missing changed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from intake.commands.reprocess_plan import CurrentRules, Plan, Reading
from intake.filing import Reply, queue_acknowledgement
from intake.runtime import Runtime
from storage.cases import triage_to_dict
from storage.casestate import record_case_state
from storage.events import add_event

ACTOR = "reprocess"


# --- writing it -----------------------------------------------------------------------------


def apply_plan(s: Session, plan: Plan) -> None:
    """Record the new state: messages, kinds, values, checklist and case, and the event.

    A value the rules no longer find is superseded by an empty one (nothing is deleted).
    """
    case = plan.case
    for reading in plan.readings:
        _write_message(reading)
    for row, document in plan.kind_writes:
        row.kind, row.kind_rule = document.kind, document.kind_rule
    old_version = case.rules_version
    summary = triage_to_dict(plan.latest().result)
    record_case_state(s, case, plan.state, ACTOR, {**summary, "rules_version": plan.version})
    add_event(s, case, ACTOR, "reprocessed", {
        "from_rules": old_version, "to_rules": plan.version,
        "changes": [c.to_json() for c in plan.changes]})
    s.flush()


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
    if plan.decided:
        return "none (a reviewer has decided the case)"
    if set(plan.missing) == missing_before:
        return "none (what is missing did not change)"
    reading = plan.latest()  # the applicant's latest message is answered
    reply = Reply(reading.parsed, plan.merged_triage(), True,
                  [d.filename for d in reading.result.documents], plan.state.checklist)
    return queue_acknowledgement(s, rt, case, reply, rules.templates(case.authority), ACTOR)
