"""Reading a filed case again and computing its new state: the plan of `reprocess` and its diff.

The rules to apply (``CurrentRules``), a case's kept raw messages read again (``read_case``:
parse and extract outside any transaction, then triage), and ``plan_case``: the case's state
under the current rules, the values, kinds and checklist to write, and every ``Change`` from
the stored state. Nothing here writes; ``intake.commands.reprocess_apply`` records a plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.orm import Session

from config.errors import IntakeError
from config.profiles import Profile, load_profile_from, profile_root
from config.templates import TemplateSet, load_templates
from intake.filing import document_to_record, field_to_value, thread_hints
from intake.runtime import Runtime
from intake.stages import PREPARE_STAGES, run_stages
from intake.work import Work
from parsers.records import ExtractedDocument, FieldValue, Limits, ParsedMessage
from storage.cases import case_by_ref, case_checklist
from storage.fields import current_fields
from storage.ledger import ledger_raw
from storage.messages import case_documents, case_messages
from storage.models import Case, CaseMessage, Document, ExtractedField, Ledger
from storage.records import MailboxKey
from triage.checklist import evaluate_checklist
from triage.engine import triage_message
from triage.records import ChecklistItem, Decision, TriageResult

DECIDED = ("granted", "refused", "withdrawn", "closed")
# Filing never re-checks a case for these roles (intake.filing._file_into); nor do we.
NOT_RECHECKED = ("automated", "duplicate")
_OPEN = ("missing", "unclear")


class ReprocessError(IntakeError):
    """A case could not be reprocessed (no kept raw message, filed into meanwhile ...)."""


# --- the current rules ----------------------------------------------------------------------


class CurrentRules:
    """The rules to apply: those of a folder of profiles (the settings', or a copy to try)."""

    def __init__(self, limits: Limits, folder: Path) -> None:
        self.limits = limits
        self.folder = folder
        self._profiles: dict[str, Profile] = {}
        self._templates: dict[str, TemplateSet] = {}

    def profile(self, name: str) -> Profile:
        """Return a profile by name from the folder, loaded once."""
        if name not in self._profiles:
            self._profiles[name] = load_profile_from(profile_root(name, self.folder))
        return self._profiles[name]

    def templates(self, name: str) -> TemplateSet:
        """Return the reply templates of a profile, loaded once."""
        if name not in self._templates:
            loaded = self.profile(name)
            self._templates[name] = load_templates(
                loaded.root, checklist_ids={r.id for rules in loaded.triage.checklists.values()
                                            for r in rules},
                request_types=tuple(loaded.triage.checklists))
        return self._templates[name]

    def versions(self) -> str:
        """Return 'famhp 1a2b…' for every profile used so far."""
        return ", ".join(f"{p.name} {p.version}" for p in self._profiles.values()) or "none"


# --- what changed ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference between a case as stored and as the current rules read it."""

    what: str  # "case", "message", "field", "document", "checklist", "status"
    name: str
    old: str | None
    new: str | None
    rule: str | None = None

    def describe(self) -> str:
        """Return e.g. "device_name: (none) -> 'X' [rule famhp.label.device_name.en.name]"."""
        show = _quoted if self.what == "field" else _plain
        prefix = {"checklist": "checklist ", "document": "document "}.get(self.what, "")
        text = f"{prefix}{self.name}: {show(self.old)} -> {show(self.new)}"
        return f"{text} [rule {self.rule}]" if self.rule else text

    def to_json(self) -> dict[str, str | None]:
        """Return the change as the event log keeps it."""
        return {"what": self.what, "name": self.name, "from": self.old, "to": self.new,
                "rule": self.rule, "text": self.describe()}


def _quoted(value: str | None) -> str:
    """A field value as the diff shows it."""
    return "(none)" if value is None else repr(value)


def _plain(value: str | None) -> str:
    """A status or name as the diff shows it."""
    return "(none)" if value is None else value


# --- reading the stored messages again ------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A filed message and its kept raw bytes, as the read phase found them."""

    row_id: int
    work: Work


@dataclass(frozen=True)
class Reading:
    """A filed message read again with the current rules."""

    row: CaseMessage
    parsed: ParsedMessage
    result: TriageResult


def load_case(s: Session, ref: str, rt: Runtime) -> list[Stored]:
    """Return a case's messages with their kept bytes, in the order they were filed."""
    case = _case(s, ref)
    return [_stored(s, case, m, rt) for m in case_messages(s, case)]


def _case(s: Session, ref: str) -> Case:
    """Return the case with this reference, or fail."""
    case = case_by_ref(s, ref)
    if case is None:
        raise ReprocessError(f"no case {ref}")
    return case


def _stored(s: Session, case: Case, message: CaseMessage, rt: Runtime) -> Stored:
    """Return one message's raw bytes as a Work record ready for the prepare stages."""
    row = s.get(Ledger, message.ledger_id) if message.ledger_id is not None else None
    if row is None:
        raise ReprocessError(f"message {message.message_id or message.id} has no kept raw "
                             "message to read again")
    key = MailboxKey(row.mailbox, row.folder, row.uidvalidity, row.uid)
    work = Work(ledger_id=row.id, key=key, profile=case.authority,
                raw=ledger_raw(s, row, rt.blobs))
    return Stored(message.id, work)


def prepare_all(rules: CurrentRules, stored: Sequence[Stored]) -> list[Work]:
    """Parse and extract every message with the current rules (pure: no database)."""
    return [run_stages(rules, item.work, PREPARE_STAGES) for item in stored]


def triage_all(s: Session, rules: CurrentRules, rows: Sequence[CaseMessage],
               prepared: Sequence[Work]) -> list[Reading]:
    """Triage each prepared message as the pipeline's decide stages do."""
    readings = []
    for row, work in zip(rows, prepared, strict=True):
        assert work.parsed is not None and work.extraction is not None
        profile = rules.profile(work.profile)
        hints = thread_hints(s, profile, work.parsed, work.extraction)
        result = triage_message(work.parsed, work.extraction, profile.triage, profile.name,
                                hints)
        readings.append(Reading(row, work.parsed, replace(result,
                                                          rules_version=profile.version)))
    return readings


@dataclass(frozen=True)
class ReadCase:
    """A case's filed messages, kept bytes read again with the current rules."""

    ref: str
    stored: list[Stored]
    prepared: list[Work]


def read_case(rt: Runtime, rules: CurrentRules, ref: str) -> ReadCase:
    """Fetch a case's kept messages, then parse and extract them outside any transaction."""
    # No transaction stays open while attachments are read: on SQLite every transaction
    # holds the write lock, and the poller must not wait for a long case.
    with rt.database.session() as s:
        stored = load_case(s, ref, rt)
    return ReadCase(ref, stored, prepare_all(rules, stored))


# --- the case's new state -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldWrite:
    """A key whose current extracted value changes: the candidates, or none to withdraw it."""

    key: str
    candidates: tuple[FieldValue, ...]
    message: CaseMessage | None


@dataclass
class Plan:
    """A case's new state under the current rules, the changes, and what to write."""

    case: Case
    readings: list[Reading]
    version: str
    request_type: Decision
    regulation: Decision
    language: Decision
    urgent: bool
    urgent_reasons: list[str]
    fields: dict[str, FieldValue]
    checklist: tuple[ChecklistItem, ...] = ()
    status: str = ""
    field_writes: list[FieldWrite] = field(default_factory=list)
    kind_writes: list[tuple[Document, ExtractedDocument]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def missing(self) -> tuple[str, ...]:
        """Required items not present."""
        return tuple(i.id for i in self.checklist
                     if i.severity == "required" and i.status in _OPEN)

    def merged_triage(self) -> TriageResult:
        """The last message's triage widened to the whole case, as filing records it."""
        last = _rechecked(self.readings)[-1].result
        urgent = Decision("yes" if self.urgent else "no", tuple(self.urgent_reasons))
        return replace(last, request_type=self.request_type, regulation=self.regulation,
                       language=self.language, urgent=urgent, checklist=self.checklist,
                       fields={k: v for k, v in self.fields.items() if v.value.strip()},
                       rules_version=self.version)


def plan_case(s: Session, case: Case, readings: list[Reading], profile: Profile) -> Plan:
    """Compute the case's state under the current rules and list what differs."""
    rechecked = _rechecked(readings)
    plan = Plan(case, readings, profile.version,
                request_type=_first(r.result.request_type for r in rechecked),
                regulation=_first(r.result.regulation for r in reversed(rechecked)),
                language=_first(r.result.language for r in rechecked),
                urgent=case.urgent or any(r.result.urgent.value == "yes" for r in rechecked),
                urgent_reasons=_urgent_reasons(case, rechecked), fields={})
    _case_changes(plan)
    _message_changes(plan)
    _plan_fields(s, plan)
    documents = _plan_documents(s, plan)
    if plan.request_type.value:
        plan.checklist = evaluate_checklist(plan.request_type.value, plan.fields, documents,
                                            case.subject, profile.triage)
    _checklist_changes(s, plan)
    plan.status = _status(case, plan, rechecked[-1].row.role)
    if plan.status != case.status:
        plan.changes.append(Change("status", "status", case.status, plan.status))
    return plan


def _rechecked(readings: Sequence[Reading]) -> list[Reading]:
    """The messages that set a case's triage when filed (all of them if none does)."""
    return [r for r in readings if r.row.role not in NOT_RECHECKED] or list(readings)


def _first(decisions: Iterable[Decision]) -> Decision:
    """The first decision that has a value (filing never forgets one)."""
    return next((d for d in decisions if d.value), Decision(None, ("no message states one",)))


def _urgent_reasons(case: Case, rechecked: Sequence[Reading]) -> list[str]:
    """Urgency is sticky: the stored reasons stay, the current rules' add to them."""
    fresh = [reason for r in rechecked if r.result.urgent.value == "yes"
             for reason in r.result.urgent.reasons]
    kept = list(case.urgent_reasons or []) if case.urgent else []
    return list(dict.fromkeys([*kept, *fresh]))


def _case_changes(plan: Plan) -> None:
    """Request type, regulation, language and urgency."""
    case = plan.case
    for name, old, new in (("request_type", case.request_type, plan.request_type.value),
                           ("regulation", case.regulation, plan.regulation.value),
                           ("language", case.language, plan.language.value),
                           ("urgent", _yes(case.urgent), _yes(plan.urgent))):
        if old != new:
            plan.changes.append(Change("case", name, old, new))


def _yes(flag: bool) -> str:
    """Urgency as the diff shows it."""
    return "yes" if flag else "no"


def _message_changes(plan: Plan) -> None:
    """A message whose kind the current rules read otherwise (its role stays)."""
    for number, reading in enumerate(plan.readings, 1):
        if reading.result.kind != reading.row.kind:
            plan.changes.append(Change("message", f"message {number} ({reading.row.role}) kind",
                                       reading.row.kind, reading.result.kind))


def latest_candidates(readings: Sequence[Reading]) -> dict[str, tuple[Reading, list[FieldValue]]]:
    """Each key's candidates from the last message that carries it, the best first.

    As filing records them: each message's most confident candidate (the earliest on a tie)
    supersedes the value before it, so the last message that has the key decides.
    """
    found: dict[str, tuple[Reading, list[FieldValue]]] = {}
    for reading in readings:
        groups: dict[str, list[FieldValue]] = {}
        for value in reading.result.all_fields:
            groups.setdefault(value.key, []).append(value)
        for key, group in groups.items():
            found[key] = (reading, sorted(group, key=lambda f: -f.confidence))
    return found


def _plan_fields(s: Session, plan: Plan) -> None:
    """Compare each key's current extracted value with the current rules' one."""
    stored = current_fields(s, plan.case)
    fresh = latest_candidates(plan.readings)
    for key in sorted({*stored, *fresh}):
        row = stored.get(key)
        if row is not None and row.origin == "reviewer":
            plan.fields[key] = field_to_value(row)  # a reviewer's value is never overwritten
            continue
        _plan_field(plan, key, row, fresh.get(key))


def _plan_field(plan: Plan, key: str, row: ExtractedField | None,
                fresh: tuple[Reading, list[FieldValue]] | None) -> None:
    """Keep, replace or withdraw one extracted value."""
    old = row.value if row is not None and row.value.strip() else None
    found = [f for f in fresh[1] if f.value.strip()] if fresh is not None else []
    new = found[0] if found else None
    if old == (new.value if new is not None else None):
        if row is not None and old is not None:  # the same value keeps its first source
            plan.fields[key] = field_to_value(row)
        return
    if new is None:
        plan.field_writes.append(FieldWrite(key, (), None))
        plan.changes.append(Change("field", key, old, None))
        return
    assert fresh is not None
    plan.fields[key] = new
    plan.field_writes.append(FieldWrite(key, tuple(found), fresh[0].row))
    plan.changes.append(Change("field", key, old, new.value, new.rule))


def _plan_documents(s: Session, plan: Plan) -> list[ExtractedDocument]:
    """Give each stored document the kind the current rules read; return them for the checklist."""
    fresh = {r.row.id: list(r.result.documents) for r in plan.readings}
    records = []
    for row in case_documents(s, plan.case):
        record = document_to_record(row)
        match = _take(fresh.get(row.case_message_id, []), row.sha256)
        if match is not None and match.kind != row.kind:
            record = replace(record, kind=match.kind, kind_rule=match.kind_rule)
            plan.kind_writes.append((row, match))
            plan.changes.append(Change("document", row.filename, row.kind, match.kind,
                                       match.kind_rule))
        records.append(record)
    return records


def _take(documents: list[ExtractedDocument], sha256: str) -> ExtractedDocument | None:
    """Remove and return the first document with these bytes (a file may come twice)."""
    for number, document in enumerate(documents):
        if document.sha256 == sha256:
            return documents.pop(number)
    return None


def _checklist_changes(s: Session, plan: Plan) -> None:
    """Items whose status differs from the stored one."""
    stored = {e.item_id: e.status for e in case_checklist(s, plan.case)}
    for item in plan.checklist:
        if stored.get(item.id) != item.status:
            plan.changes.append(Change("checklist", item.id, stored.get(item.id), item.status))


def _status(case: Case, plan: Plan, role: str) -> str:
    """Keep a reviewer's decision; otherwise derive the status as filing does."""
    if case.status in DECIDED:
        return case.status
    if role == "enquiry":
        return "enquiry"
    return "complete" if plan.checklist and not plan.missing else "incomplete"
