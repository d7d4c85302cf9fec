"""Reviewers' acts on a case, for the command line and the workspace alike.

A correction or a decision is recorded, then the case's state is rebuilt by the one pure
rule (``triage.case``, through ``storage.casestate``): a reviewer's decision sticks, a
correction never undoes it.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.orm import Session

from config.errors import IntakeError
from config.extraction_rules import FIELD_KEYS
from config.profiles import load_profile
from config.vocabulary import CaseStatus, names
from parsers.normalise import normalise
from storage.cases import set_status
from storage.casestate import record_case_state, stored_case_state
from storage.events import add_event
from storage.fields import current_fields, set_reviewer_field
from storage.models import Case
from storage.workspace import merge_cases


class ReviewError(IntakeError):
    """A reviewer's change could not be made (unknown field or status, a value not certain)."""


def case_url(base: str, ref: str) -> str:
    """Return the workspace address of a case."""
    return f"{base}/cases/{quote(ref, safe='')}"


def normalised_value(case: Case, key: str, value: str, folder: Path) -> str:
    """Return a reviewer's value in the field's normal form, or raise ReviewError.

    A reviewer's word is taken strictly: the value must be one value of the field's kind,
    read with certainty. "two or three" is not 2 and "both MDR and IVDR" is not IVDR.
    """
    if key not in FIELD_KEYS:
        raise ReviewError(f"unknown field {key!r} (known: {', '.join(FIELD_KEYS)})")
    rule = load_profile(case.authority, folder).extraction.field_rule(key)
    if rule is None:
        return value.strip()
    return strict_value(rule.normaliser, key, value)


# Words and signs that join two values: "2 or 3", "MDR and IVDR", "IIa/IIb" ... (EN/FR/NL/DE).
_ALTERNATIVES = re.compile(r"\s(?:or|and|ou|et|of|en|oder|und|both|soit)\s|[;,&|]|\s/\s",
                           re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]+")
_FREE_TEXT = ("text", "period")


def strict_value(normaliser: str, key: str, value: str) -> str:
    """Return the one value a reviewer wrote, in normal form; refuse a guess or a choice."""
    result = normalise(normaliser, value)
    if result is None:
        raise ReviewError(f"{value!r} is not a valid {key} ({normaliser})")
    if normaliser in _FREE_TEXT:
        return result[0]
    normal, confidence = result
    readings = {found[0] for part in _ALTERNATIVES.split(f" {value} ")
                if (found := normalise(normaliser, part)) is not None}
    if len(readings - {normal}) or (normaliser == "quantity"
                                    and len(_NUMBER.findall(value)) > 1):
        raise ReviewError(f"{value!r} holds more than one {key}: give exactly one")
    if confidence < 1.0:
        raise ReviewError(f"{value!r} is not certainly a {key}: write it plainly "
                          f"(it would read as {normal!r})")
    return normal


def recheck_case(s: Session, case: Case, actor: str, reason: str, folder: Path) -> list[str]:
    """Record a case's state after a reviewer's act; return the checklist items that changed.

    The state (``triage.case``) keeps a reviewer's decision: a correction never undoes it.
    """
    state = stored_case_state(s, case, load_profile(case.authority, folder).triage)
    if state.status != case.status:
        set_status(s, case, state.status, actor, reason, decision=False)
    changes = record_case_state(s, case, state, actor)
    for item_id, old, new in changes:
        add_event(s, case, actor, "checklist_changed", {"item": item_id, "from": old, "to": new})
    return [f"{item_id}: {old or 'new'} -> {new}" for item_id, old, new in changes]


def correct_field(s: Session, case: Case, key: str, raw_value: str, actor: str,
                  folder: Path) -> tuple[str, str | None, list[str]]:
    """Record a reviewer's value and recheck the checklist; return value, old value, changes."""
    value = normalised_value(case, key, raw_value, folder)
    before = current_fields(s, case).get(key)
    set_reviewer_field(s, case, key, value, actor)
    changes = recheck_case(s, case, actor,
                           f"checklist re-evaluated after {key} was set by {actor}", folder)
    return value, before.value if before is not None else None, changes


def record_decision(s: Session, case: Case, status: str, note: str, actor: str,
                    folder: Path) -> str:
    """Record a reviewer's decision with its reason; return the status it replaced."""
    if status not in names(CaseStatus):
        raise ReviewError(f"unknown status {status!r} (known: {', '.join(names(CaseStatus))})")
    if not note.strip():
        raise ReviewError("a status change needs a note (the reason, for the record)")
    before = case.status
    set_status(s, case, status, actor, note.strip())
    recheck_case(s, case, actor, note.strip(), folder)
    return before


def merge_into(s: Session, target: Case, source: Case, actor: str, folder: Path) -> list[str]:
    """Move every message of source into target (recorded, reversible); re-check target."""
    merge_cases(s, target, source, actor)
    return recheck_case(s, target, actor,
                        f"checklist re-evaluated after {source.ref} was merged", folder)
