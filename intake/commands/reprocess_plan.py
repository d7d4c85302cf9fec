"""Reading a filed case again and computing its new state: the plan of `reprocess` and its diff.

The rules to apply (``CurrentRules``), a case's kept raw messages read again (``read_case``:
parse and extract outside any transaction, then triage), and ``plan_case``: the case's state
under the current rules, the values, kinds and checklist to write, and every ``Change`` from
the stored state. Nothing here writes; ``intake.commands.reprocess_apply`` records a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.orm import Session

from config.errors import IntakeError
from config.profile_folders import profile_root
from config.profiles import Profile, load_profile_from
from config.templates import TemplateSet, load_templates
from config.vocabulary import MessageRole
from intake.filing import thread_hints
from intake.runtime import Runtime
from intake.stages import PREPARE_STAGES, run_stages
from intake.work import Work
from parsers.records import ExtractedDocument, Limits, ParsedMessage
from storage.cases import case_by_ref, case_checklist, reviewer_decision
from storage.casestate import field_writes
from storage.fields import FieldWrite, current_extracted, reviewer_values
from storage.ledger import ledger_key, ledger_raw
from storage.messages import case_documents, case_messages
from storage.models import Case, CaseMessage, Document, Ledger
from triage.case import COUNTED_ROLES, CaseState, case_state, facts_of, widened
from triage.engine import triage_message
from triage.records import TriageResult


class ReprocessError(IntakeError):
    """A case could not be reprocessed (no kept raw message, filed into meanwhile ...)."""


# --- the current rules ----------------------------------------------------------------------


class CurrentRules:
    """The rules to apply: a folder of profiles (the settings'), one maybe replaced by a copy."""

    def __init__(self, limits: Limits, folder: Path, override: Profile | None = None) -> None:
        self.limits = limits
        self.folder = folder
        self._profiles: dict[str, Profile] = {} if override is None else {override.name:
                                                                          override}
        self._templates: dict[str, TemplateSet] = {}

    def profile(self, name: str) -> Profile:
        """Return a profile by name (the copy being tried, if it bears that name), loaded once."""
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
    case = case_of(s, ref)
    return [_stored(s, case, m, rt) for m in case_messages(s, case)]


def case_of(s: Session, ref: str) -> Case:
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
    key = ledger_key(row)
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


@dataclass
class Plan:
    """A case's new state under the current rules, the changes, and what to write."""

    case: Case
    readings: list[Reading]
    version: str
    state: CaseState
    decided: bool  # a reviewer has decided the case
    field_writes: list[FieldWrite] = field(default_factory=list)
    kind_writes: list[tuple[Document, ExtractedDocument]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def missing(self) -> tuple[str, ...]:
        """Required items not present."""
        return self.state.missing

    def latest(self) -> Reading:
        """The applicant's latest message (the last one that counts for the case)."""
        return next((r for r in reversed(self.readings) if r.row.role in COUNTED_ROLES),
                    self.readings[-1])

    def merged_triage(self) -> TriageResult:
        """The latest message's triage widened to the whole case, as filing records it."""
        return replace(widened(self.latest().result, self.state), rules_version=self.version)


def plan_case(s: Session, case: Case, readings: list[Reading], profile: Profile) -> Plan:
    """Compute the case's state under the current rules and list what differs."""
    facts = [facts_of(r.result, MessageRole(r.row.role), r.row.subject) for r in readings]
    decision = reviewer_decision(s, case)
    state = case_state(facts, reviewer_values(s, case), decision, profile.triage)
    plan = Plan(case, readings, profile.version, state, decided=decision is not None)
    _case_changes(plan)
    _message_changes(plan)
    _field_changes(s, plan)
    _plan_documents(s, plan)
    _checklist_changes(s, plan)
    if state.status != case.status:
        plan.changes.append(Change("status", "status", case.status, state.status))
    return plan


def _case_changes(plan: Plan) -> None:
    """Request type, regulation, language and urgency."""
    case, state = plan.case, plan.state
    for name, old, new in (("request_type", case.request_type, state.request_type.value),
                           ("regulation", case.regulation, state.regulation.value),
                           ("language", case.language, state.language.value),
                           ("urgent", _yes(case.urgent), state.urgent.value)):
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


def _field_changes(s: Session, plan: Plan) -> None:
    """Each key whose current extracted value changes (a reviewer's value settles a key)."""
    current = current_extracted(s, plan.case)
    plan.field_writes = field_writes(s, plan.case, plan.state)
    for write in plan.field_writes:
        row = current.get(write.key)
        old = row.value if row is not None and row.value.strip() else None
        new = write.value
        plan.changes.append(Change("field", write.key, old, new.value if new else None,
                                   new.rule if new else None))


def _plan_documents(s: Session, plan: Plan) -> None:
    """Give each stored document the kind the current rules read."""
    fresh = {r.row.id: list(r.result.documents) for r in plan.readings}
    for row in case_documents(s, plan.case):
        match = _take(fresh.get(row.case_message_id, []), row.sha256)
        if match is not None and match.kind != row.kind:
            plan.kind_writes.append((row, match))
            plan.changes.append(Change("document", row.filename, row.kind, match.kind,
                                       match.kind_rule))


def _take(documents: list[ExtractedDocument], sha256: str) -> ExtractedDocument | None:
    """Remove and return the first document with these bytes (a file may come twice)."""
    for number, document in enumerate(documents):
        if document.sha256 == sha256:
            return documents.pop(number)
    return None


def _checklist_changes(s: Session, plan: Plan) -> None:
    """Items whose status differs from the stored one."""
    stored = {e.item_id: e.status for e in case_checklist(s, plan.case)}
    for item in plan.state.checklist:
        if stored.get(item.id) != item.status:
            plan.changes.append(Change("checklist", item.id, stored.get(item.id), item.status))
