"""`derogation-intake reprocess`: apply the current rules to cases already filed.

The stored raw messages of each chosen case are read again (parse, extract, triage) with the
rules as they are now, in the order they were filed, and merged as filing merges them; the
case's new state is compared with the stored one and, unless --dry-run, recorded in one
transaction per case with a "reprocessed" event. Messages keep the case and the role filing
gave them: reprocess re-reads, it does not re-file. Nothing is deleted: a value the rules no
longer find is superseded by an empty one, a reviewer's value is never touched, and a
reviewer's decision (granted, refused ...) keeps the case's status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from config.errors import IntakeError
from config.profiles import Profile, load_profile, load_profile_from, profile_root
from config.settings import Settings
from intake.filing import (
    Reply,
    document_to_record,
    field_to_value,
    queue_acknowledgement,
    thread_hints,
)
from intake.records import MailboxKey
from intake.rules_commands import Progress
from intake.runtime import Runtime, open_runtime
from intake.stages import PREPARE_STAGES, run_stages
from intake.templates import TemplateSet, load_templates
from intake.work import Work
from parsers.records import ExtractedDocument, FieldValue, Limits, ParsedMessage, Source
from storage.cases import case_by_ref, case_checklist, list_cases, set_checklist, triage_to_dict
from storage.events import add_event
from storage.ledger import ledger_raw
from storage.messages import add_fields, case_documents, case_messages, current_fields
from storage.models import Case, CaseMessage, Document, ExtractedField, Ledger, utcnow
from storage.sql import attach
from triage.checklist import evaluate_checklist
from triage.engine import triage_message
from triage.records import ChecklistItem, Decision, TriageResult

ACTOR = "reprocess"
DECIDED = ("granted", "refused", "withdrawn", "closed")
# Filing never re-checks a case for these roles (intake.filing._file_into); nor do we.
NOT_RECHECKED = ("automated", "duplicate")
WITHDRAWN_RULE = "reprocess"  # rule of the empty value that supersedes one no longer found
_OPEN = ("missing", "unclear")


class ReprocessError(IntakeError):
    """A case could not be reprocessed (no kept raw message, filed into meanwhile ...)."""


# --- the current rules ----------------------------------------------------------------------


class CurrentRules:
    """The rules to apply: the shipped profiles, or those of a folder (to try a change)."""

    def __init__(self, limits: Limits, folder: Path | None = None) -> None:
        self.limits = limits
        self.folder = folder
        self._profiles: dict[str, Profile] = {}
        self._templates: dict[str, TemplateSet] = {}

    def profile(self, name: str) -> Profile:
        """Return a profile by name (from the folder when one was given), loaded once."""
        if name not in self._profiles:
            self._profiles[name] = (load_profile(name) if self.folder is None
                                    else load_profile_from(profile_root(name, self.folder)))
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
        """Return e.g. "device_name: (none) -> 'CardioFlow' [rule famhp.label.device_name#3]"."""
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


# --- one case, then many --------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the administrator asked for."""

    dry_run: bool = False
    acknowledge: bool = False


@dataclass(frozen=True)
class Outcome:
    """What reprocessing did (or would do) to one case."""

    ref: str
    changes: tuple[Change, ...] = ()
    error: str | None = None
    acknowledgement: str | None = None

    def line(self) -> str:
        """Return the case's line of the report."""
        if self.error is not None:
            return f"{self.ref}: cannot reprocess: {self.error}"
        if not self.changes:
            return f"{self.ref}: unchanged"
        text = "; ".join(c.describe() for c in self.changes)
        return f"{self.ref}: {text}" + (f"; acknowledgement {self.acknowledgement}"
                                        if self.acknowledgement else "")


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


def decide_case(rt: Runtime, rules: CurrentRules, read: ReadCase, options: Options) -> Outcome:
    """Triage, compare and (unless dry) record one case, in one transaction."""
    with rt.database.session() as s:
        case = _case(s, read.ref)
        if not options.dry_run:
            case = attach(s, case, lock=True)  # filing into this case waits for our commit
        rows = case_messages(s, case)
        if [r.id for r in rows] != [m.row_id for m in read.stored]:
            raise ReprocessError("a message was filed into the case meanwhile: "
                                 "run reprocess again")
        plan = plan_case(s, case, triage_all(s, rules, rows, read.prepared),
                         rules.profile(case.authority))
        outcome = Outcome(case.ref, tuple(plan.changes))
        if options.dry_run or not plan.changes:
            s.rollback()  # nothing may be written, whatever the session holds
            return outcome
        before = {e.item_id for e in case_checklist(s, case)
                  if e.severity == "required" and e.status in _OPEN}
        apply_plan(s, plan)
        if not options.acknowledge:
            return outcome
        return replace(outcome, acknowledgement=acknowledge(s, rt, rules, plan, before))


def reprocess_case(rt: Runtime, rules: CurrentRules, ref: str, options: Options) -> Outcome:
    """Read one case's messages again; record what changes unless it is a dry run."""
    try:
        return decide_case(rt, rules, read_case(rt, rules, ref), options)
    except IntakeError as exc:
        return Outcome(ref, error=str(exc))


@dataclass
class Summary:
    """Counts of a run, for its last line."""

    changed: int = 0
    unchanged: int = 0
    failed: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count one case."""
        if outcome.error is not None:
            self.failed += 1
        elif outcome.changes:
            self.changed += 1
        else:
            self.unchanged += 1

    def line(self, dry_run: bool, versions: str) -> str:
        """Return the summary line."""
        total = self.changed + self.unchanged + self.failed
        if dry_run:
            return (f"dry run: {self.changed} of {total} case(s) would change, {self.unchanged} "
                    f"unchanged, {self.failed} failed (rules {versions}); nothing was written")
        return (f"reprocessed {total} case(s): {self.changed} changed, {self.unchanged} "
                f"unchanged, {self.failed} failed (rules {versions})")


def reprocess_cases(rt: Runtime, rules: CurrentRules, refs: Sequence[str], options: Options,
                    *, verbose: bool = False, out: TextIO | None = None,
                    err: TextIO | None = None) -> Summary:
    """Reprocess cases one transaction each; print a line per changed or failed case."""
    out, progress, summary = out or sys.stdout, Progress(len(refs), err or sys.stderr), Summary()
    for number, ref in enumerate(refs, 1):
        progress.step(number, ref)
        outcome = reprocess_case(rt, rules, ref, options)
        summary.add(outcome)
        if outcome.changes or outcome.error is not None or verbose:
            progress.done()  # clear the progress line before a report line
            print(outcome.line(), file=out, flush=True)
    progress.done()
    return summary


def select_refs(s: Session, refs: Sequence[str] | None, since: date | None,
                timezone: str) -> list[str]:
    """The references asked for, the cases with mail filed since a date, or every case."""
    if refs:
        return list(dict.fromkeys(refs))  # an unknown one fails on its own line
    cases = list_cases(s)
    if since is None:
        return [c.ref for c in cases]
    # Midnight where the agency is: "since 1 March" means the office's 1 March.
    cutoff = datetime.combine(since, time.min, ZoneInfo(timezone))
    return [c.ref for c in cases if any(m.created_at >= cutoff for m in case_messages(s, c))]


# --- command line ---------------------------------------------------------------------------


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the current rules to filed cases; print what changes (or would) per case."""
    folder: Path | None = args.profile_dir
    if folder is not None and not folder.is_dir():
        print(f"derogation-intake: --profile-dir {folder} is not a folder", file=sys.stderr)
        return 2
    runtime = open_runtime(settings)
    try:
        rules = CurrentRules(runtime.limits, folder)
        with runtime.database.session() as s:
            refs = select_refs(s, args.cases, args.since, settings.general.timezone)
        options = Options(dry_run=args.dry_run, acknowledge=args.acknowledge)
        summary = reprocess_cases(runtime, rules, refs, options, verbose=args.show_unchanged)
        print(summary.line(options.dry_run, rules.versions()))
    finally:
        runtime.close()
    return 1 if summary.failed else 0


def since_date(text: str) -> date:
    """Parse --since (an ISO date such as 2026-03-01)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register_reprocess(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `reprocess [--case REF | --since DATE | --all] [--dry-run] [--acknowledge]`."""
    text = "apply the current rules to cases already filed"
    command = sub.add_parser("reprocess", help=text, description=text[0].upper() + text[1:] + ".")
    which = command.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", dest="cases", action="append", metavar="REF",
                       help="this case (repeat for more)")
    which.add_argument("--since", type=since_date, metavar="DATE",
                       help="cases with mail filed since this date (YYYY-MM-DD)")
    which.add_argument("--all", action="store_true", help="every case")
    command.add_argument("--dry-run", action="store_true",
                         help="show what would change; write nothing")
    command.add_argument("--acknowledge", action="store_true",
                         help="queue a follow-up acknowledgement for a changed open case whose "
                              "missing items changed (default: none)")
    command.add_argument("--verbose", dest="show_unchanged", action="store_true",
                         help="list the unchanged cases too")
    command.add_argument("--profile-dir", type=Path, default=None, metavar="DIR",
                         help="read the rules from DIR/<profile> instead of the shipped "
                              "profiles (to try a change on a copy)")
    command.set_defaults(handler=cmd_reprocess, command_name="reprocess")
