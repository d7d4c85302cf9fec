"""`derogation-intake rules validate|test|eval`: tools for administrators who tune the rules.

validate checks rule files and templates and names every problem with its file, line and key;
test shows, for real files, which rule found each value, which rules missed and what nearly
matched; eval measures the rules against labelled files and compares with a baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from config.errors import ConfigError, IntakeError
from config.extraction_rules import FIELD_KEYS, ExtractionRules, FieldRule, LabelRule
from config.profiles import Profile, load_profile, load_profile_from, profile_root
from config.settings import Settings
from config.triage_rules import TriageRules
from config.validate import Validation, check_path, check_profiles, shipped_profiles
from intake.probe import MESSAGE_SUFFIXES, load_as_message, probe_message
from intake.runtime import database_url, limits_from
from parsers.extract import extract_message, file_to_document
from parsers.labels import find_label, label_candidates
from parsers.normalise import normalise
from parsers.records import ExtractedDocument, FieldValue, Limits, ParsedMessage
from triage.caseref import find_case_ref
from triage.engine import retriage_case, triage_message
from triage.evaluate import (
    FieldCounts,
    FileScore,
    Scores,
    baseline_from_json,
    baseline_to_json,
    case_references,
    compare,
    correction_scores,
    failed,
    follow_order,
    improvements,
    misses,
    precision_recall,
    ratio,
    regressions,
    same_value,
    score_changes,
)
from triage.kind import ThreadHints, thread_hints
from triage.records import TriageResult

SAMPLE_SUFFIXES = (".eml", ".msg", ".pdf", ".docx")
EXPECTED_SUFFIX = ".expected.json"
_MARKS = {"present": "✓", "missing": "✗", "unclear": "?", "not_applicable": "–"}
_USAGE = 2  # the exit status of a command given wrong arguments (as argparse uses)


# --- wiring --------------------------------------------------------------------------------


def register_rules(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `rules validate|test|eval` to the command line's subcommands."""
    rules = sub.add_parser("rules", help="check, try and measure the rule files",
                           description="Check, try and measure the rule files and templates.")
    actions = rules.add_subparsers(title="actions", metavar="ACTION", required=True)
    validate = actions.add_parser("validate", help="check rule files and templates")
    validate.add_argument("path", nargs="?", type=Path, default=None,
                          help="a profile folder or one rule or template file (default: every "
                               "shipped profile and every mailbox's)")
    validate.set_defaults(handler=cmd_rules_validate, command_name="rules")
    test = actions.add_parser("test", help="show which rules find what in real files")
    test.add_argument("files", nargs="+", type=Path, help=".eml, .msg, .pdf or .docx files")
    test.add_argument("--profile", default=None, help="profile name or folder")
    test.set_defaults(handler=cmd_rules_test, command_name="rules")
    evaluate = actions.add_parser("eval", help="measure the rules against labelled files")
    evaluate.add_argument("directory", nargs="?", type=Path, default=None,
                          help="files with <name>.expected.json beside each")
    evaluate.add_argument("--profile", default=None, help="profile name or folder")
    evaluate.add_argument("--baseline", type=Path, default=None,
                          help="compare with this saved run; exit 1 if any file got worse")
    evaluate.add_argument("--save-baseline", type=Path, default=None,
                          help="write this run's per-file results to this file")
    evaluate.add_argument("--from-corrections", action="store_true",
                          help="measure extraction against reviewers' corrections in the database")
    evaluate.set_defaults(handler=cmd_rules_eval, command_name="rules")


def resolve_profile(name_or_folder: str | None, settings: Settings) -> Profile:
    """A profile folder given as a path, a shipped profile by name, or the first mailbox's."""
    if name_or_folder and Path(name_or_folder).is_dir():
        return load_profile_from(Path(name_or_folder))
    default = settings.mailboxes[0].profile if settings.mailboxes else "famhp"
    return load_profile(name_or_folder or default)


# --- rules validate ------------------------------------------------------------------------


def cmd_rules_validate(args: argparse.Namespace, settings: Settings) -> int:
    """Check rule files and templates; print each problem as path:line: key: reason."""
    result = check_path(args.path) if args.path else _default_validation(settings)
    for error in result.errors:
        print(error.describe())
    if result.errors:
        broken = len({e.path for e in result.errors})
        print(f"FAILED: {len(result.errors)} problem(s) in {broken} file(s); "
              f"{len(result.files)} files checked")
        return 1
    print(f"OK: {len(result.files)} files")
    return 0


def _default_validation(settings: Settings) -> Validation:
    """Every shipped profile and every profile a mailbox names."""
    roots, errors = list(shipped_profiles()), []
    for mailbox in settings.mailboxes:
        try:
            roots.append(profile_root(mailbox.profile))
        except ConfigError as exc:
            errors.append(exc)
    checked = check_profiles(roots)
    return Validation(checked.files, (*errors, *checked.errors))


# --- rules test ----------------------------------------------------------------------------


def cmd_rules_test(args: argparse.Namespace, settings: Settings) -> int:
    """For each file: the values found and their rules, the rules that missed, kinds, checklist."""
    profile = resolve_profile(args.profile, settings)
    limits = limits_from(settings)
    status = 0
    for path in args.files:
        try:
            parsed = load_as_message(path, limits)
            result = probe_message(parsed, profile)
        except (IntakeError, OSError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        print("\n".join(tuning_report(path, parsed, result, profile)) + "\n")
    return status


def tuning_report(path: Path, parsed: ParsedMessage, result: TriageResult,
                profile: Profile) -> list[str]:
    """The `rules test` report of one file, one line per string."""
    names = rule_names(profile.extraction)
    missing = {i for key in missing_fields(result)
               if (rule := profile.extraction.field_rule(key)) for i in field_rule_ids(rule)}
    return [
        f"== {path}",
        f"profile {profile.name} (version {profile.version}): kind {result.kind}, request type "
        f"{result.request_type.value or '-'}, regulation {result.regulation.value or '-'}, "
        f"language {result.language.value or '-'}",
        "", *found_lines(result, names),
        "", *missing_lines(result, parsed, profile.extraction),
        "", *document_lines(result.documents, names, missing),
        "", *checklist_lines(result),
    ]


def rule_names(rules: ExtractionRules) -> dict[str, str]:
    """Rule id -> what the rule says, for reports ('label "Device name"')."""
    names: dict[str, str] = {}
    for rule in rules.fields:
        names.update({label.id: f'label "{label.text}"' for label in rule.labels})
        names.update({name.id: f"field name /{name.pattern.pattern}/" for name in rule.names})
    names.update({box.id: f"ticked box -> {box.value}" for box in rules.checkboxes})
    names.update({kind.id: f"priority {kind.priority}" for kind in rules.kinds})
    return names


def found_lines(result: TriageResult, names: Mapping[str, str]) -> list[str]:
    """Every value found, the one used first, with its rule and source."""
    if not result.all_fields:
        return ["Fields found: none"]
    lines = [f"Fields found ({len(result.fields)}):"]
    for key in sorted({v.key for v in result.all_fields}):
        chosen = result.fields.get(key)
        for value in sorted((v for v in result.all_fields if v.key == key),
                            key=lambda v: v is not chosen):
            lead = f"  {key} = {value.value!r}" if value is chosen \
                else f"    not used: {value.value!r}"
            lines.append(f"{lead}  [{_provenance(value, names)}]")
    return lines


def _provenance(value: FieldValue, names: Mapping[str, str]) -> str:
    rule = f"rule {value.rule}" + (f" ({names[value.rule]})" if value.rule in names else "")
    label = f", printed label {value.source.label!r}" if value.source.label else ""
    return f"{rule}; {value.source.describe()}{label}; confidence {value.confidence:.2f}"


def missing_lines(result: TriageResult, parsed: ParsedMessage,
                  rules: ExtractionRules) -> list[str]:
    """Each canonical field not found: the rules tried, and what nearly matched."""
    missing = missing_fields(result)
    if not missing:
        return ["Canonical fields not found: none"]
    lines = [f"Canonical fields not found ({len(missing)}):"]
    text = text_lines(parsed, result.documents)
    taken = {v.value.casefold() for v in result.all_fields}
    reader = reader_notes(result.documents)
    for key in missing:
        rule = rules.field_rule(key)
        if rule is None:
            lines.append(f"  {key}: no rule for this field in the profile")
            continue
        lines.append(f"  {key}: {_tried(rule)}: none matched")
        theirs = [note for note in reader if rule_ids_in(note) & field_rule_ids(rule)]
        told = {i for note in theirs for i in rule_ids_in(note)}
        # The reader's own note on a label says more (it saw the layout): ours only if new.
        ours = [n for n in near_misses(rule, rules, text, taken) if not rule_ids_in(n) & told]
        lines += [f"    near miss: {note}" for note in [*theirs, *ours][:_MAX_NEAR_MISSES]]
    return lines


def missing_fields(result: TriageResult) -> list[str]:
    """The canonical fields the message does not give."""
    return [key for key in FIELD_KEYS if key not in result.fields]


def reader_notes(documents: Sequence[ExtractedDocument]) -> list[str]:
    """What the readers could not place (ExtractedDocument.near_misses), with the file."""
    return [f"{doc.filename}: {note}" for doc in documents for note in doc.near_misses]


def field_rule_ids(rule: FieldRule) -> set[str]:
    """The ids of a field's label and name rules."""
    return {label.id for label in rule.labels} | {name.id for name in rule.names}


def rule_ids_in(text: str) -> set[str]:
    """Rule ids named in a note, e.g. famhp.label.device_model#1."""
    return set(_RULE_ID.findall(text))


def _tried(rule: FieldRule) -> str:
    parts = []
    if rule.labels:
        first = rule.labels[0].id
        parts.append(f"{_count(len(rule.labels), 'label')} "
                     f"({_id_range(first, len(rule.labels))})")
    if rule.names:
        parts.append(f"{_count(len(rule.names), 'field-name pattern')} "
                     f"({_id_range(rule.names[0].id, len(rule.names))})")
    return "tried " + (" and ".join(parts) or "no label or name rule")


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" + ("" if number == 1 else "s")


def _id_range(first: str, count: int) -> str:
    stem = first.rsplit("#", 1)[0]
    return f"{stem}#0" if count == 1 else f"{stem}#0..#{count - 1}"


def document_lines(documents: Sequence[ExtractedDocument], names: Mapping[str, str],
                   shown: AbstractSet[str] = frozenset()) -> list[str]:
    """Each document's kind with the rule that decided it, and what its reader could not place
    (except notes on rules already shown under a missing field)."""
    if not documents:
        return ["Documents: none"]
    lines = ["Documents:"]
    for doc in documents:
        rule = (f"by {doc.kind_rule} ({names.get(doc.kind_rule, 'kind rule')})"
                if doc.kind_rule else "(no kind rule fired)")
        pages = f", {_count(doc.pages, 'page')}" if doc.pages is not None else ""
        lines.append(f"  {doc.filename}: {doc.kind} {rule}, language {doc.language or '-'}"
                     f"{pages}")
        if doc.error:
            lines.append(f"    UNREADABLE: {doc.error} {doc.error_detail}".rstrip())
        lines += [f"    reader: {note}" for note in doc.near_misses
                  if not rule_ids_in(note) & shown]
    return lines


def checklist_lines(result: TriageResult) -> list[str]:
    """The completeness checklist of the request type, and what is missing."""
    if not result.checklist:
        return [f"Checklist: none ({result.kind}, request type "
                f"{result.request_type.value or 'not decided'})"]
    lines = [f"Checklist ({result.request_type.value}):"]
    lines += [f"  {_MARKS[i.status]} {i.id} ({i.severity}): {i.evidence}" for i in result.checklist]
    return [*lines, f"Missing: {', '.join(result.missing) or 'nothing'}"]


# --- near misses (pure) ----------------------------------------------------------------------

_RULE_ID = re.compile(r"\b[a-z][a-z0-9_]*\.(?:label|name)\.[a-z0-9_]+#\d+")
_SEPARATOR = re.compile(r"\s*(?::|\t|\s\.{3,}|…|_{3,})\s*")
_MAX_LABEL_WORDS = 10
_MAX_NEAR_MISSES = 5
# Values distinctive enough to name their field without a label.
_TELLING = ("email", "srn", "phone", "date")
_BARE = ("email", "srn")


@dataclass(frozen=True)
class TextLine:
    """One line of readable text and where it stands."""

    where: str
    text: str


def text_lines(parsed: ParsedMessage, documents: Sequence[ExtractedDocument]) -> list[TextLine]:
    """The message body's lines and every document's text lines, each with its place."""
    lines = [TextLine(f"body line {n}", t) for n, t in enumerate(parsed.body_text.splitlines(), 1)]
    for doc in documents:
        lines += [TextLine(f"{doc.filename} text line {n}", t)
                  for n, t in enumerate(doc.text.splitlines(), 1)]
    return [line for line in lines if line.text.strip()]


def near_misses(rule: FieldRule, rules: ExtractionRules, lines: Iterable[TextLine],
                taken: AbstractSet[str] = frozenset()) -> list[str]:
    """Labels of a missing field found without a value, and values found without a label."""
    lines = list(lines)
    notes = [n for line in lines if (n := _label_note(rule, rules, line))]
    notes += [n for line in lines if (n := _value_note(rule, rules, line, taken))]
    return list(dict.fromkeys(notes))[:_MAX_NEAR_MISSES]


def _split(text: str) -> tuple[str, str, bool]:
    """(label part, value part, whether a separator was there)."""
    match = _SEPARATOR.search(text)
    if match is None:
        return text.strip(), "", False
    return text[:match.start()].strip(), text[match.end():].strip(), True


def _label_note(rule: FieldRule, rules: ExtractionRules, line: TextLine) -> str | None:
    head, value, separated = _split(line.text)
    forms = label_candidates(head)
    if not forms or len(head.split()) > _MAX_LABEL_WORDS:
        return None
    exact = next((label for label in rule.labels if label.folded in forms), None)
    if exact is not None:
        return _unread(rule, exact, line, value)
    if not separated or find_label(rules, head) is not None:
        return None  # prose, or another field's own label
    inside = [label for label in rule.labels for f in forms if f" {label.folded} " in f" {f} "]
    if not inside:
        return None
    part = max(inside, key=lambda label: len(label.folded))
    beside = f", value {value!r}" if value else ""
    return (f'printed label "{head}" on {line.where}{beside} contains "{part.text}" '
            f"({part.id}) but is not a label of {rule.key}: add it to "
            f"fields.{rule.key}.labels.{part.language}?")


def _unread(rule: FieldRule, label: LabelRule, line: TextLine, value: str) -> str:
    where = f'label "{label.text}" ({label.id}) on {line.where}'
    if not value:
        return f"{where} has no value beside it or below it"
    if rule.value_pattern is not None and not rule.value_pattern.search(value):
        return f"{where}: value {value!r} does not match value_pattern"
    if normalise(rule.normaliser, value) is None:
        return f'{where}: value {value!r} refused by normaliser "{rule.normaliser}"'
    return f"{where}: value {value!r} was not read (not seen as 'label: value')"


def _value_note(rule: FieldRule, rules: ExtractionRules, line: TextLine,
                taken: AbstractSet[str]) -> str | None:
    if rule.normaliser not in _TELLING:
        return None
    head, value, separated = _split(line.text)
    if separated:
        return _after_unknown_label(rule, rules, line, head, value, taken)
    return _bare_value(rule, line, taken)


def _after_unknown_label(rule: FieldRule, rules: ExtractionRules, line: TextLine, head: str,
                         value: str, taken: AbstractSet[str]) -> str | None:
    """'Mail: jane@uzleuven.be' where no rule knows 'Mail'."""
    if not (value and head) or len(head.split()) > 6 or find_label(rules, head) is not None:
        return None
    read = normalise(rule.normaliser, value)
    if read is None or read[0].casefold() in taken:
        return None
    return (f'value {value!r} on {line.where} after "{head}", which is no label, '
            f"reads as {rule.normaliser} {read[0]!r}: a label of {rule.key}?")


def _bare_value(rule: FieldRule, line: TextLine, taken: AbstractSet[str]) -> str | None:
    """An e-mail address or SRN alone on its line."""
    text = line.text.strip()
    if rule.normaliser not in _BARE or len(text.split()) != 1:
        return None
    read = normalise(rule.normaliser, text)
    if read is None or read[0].casefold() in taken:
        return None
    return f"unlabelled value {text!r} on {line.where} reads as {rule.normaliser}"


# --- rules eval ----------------------------------------------------------------------------


def cmd_rules_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Measure the rules on labelled files (and/or reviewers' corrections); compare a baseline."""
    if args.directory is None and not args.from_corrections:
        print("rules eval: give a folder of labelled files, or --from-corrections",
              file=sys.stderr)
        return _USAGE
    status = corrections_report(settings) if args.from_corrections else 0
    if args.directory is not None:
        profile = resolve_profile(args.profile, settings)
        status = max(status, _eval_directory(args, profile, limits_from(settings)))
    return status


def _eval_directory(args: argparse.Namespace, profile: Profile, limits: Limits) -> int:
    samples, notes = find_samples(args.directory)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not samples:
        print(f"rules eval: no labelled files in {args.directory} (each .eml, .msg, .pdf or "
              f".docx needs <name>{EXPECTED_SUFFIX} beside it)", file=sys.stderr)
        return _USAGE
    baseline = _read_baseline(args.baseline) if args.baseline else None
    if isinstance(baseline, str):
        print(f"rules eval: {baseline}", file=sys.stderr)
        return _USAGE
    scores = evaluate_samples(samples, profile, limits, Progress(len(samples)))
    print("\n".join(eval_report(scores, args.directory, profile)))
    if args.save_baseline:
        _write_baseline(args.save_baseline, scores, profile, args.directory)
    if baseline is None:
        return 0
    lines, worse = baseline_report(baseline, scores, args.baseline)
    print("\n".join(lines))
    return 1 if worse else 0


@dataclass(frozen=True)
class Sample:
    """A labelled file: a message or a bare PDF/DOCX and its expected JSON."""

    name: str
    path: Path
    expected: Mapping[str, Any]

    @property
    def is_form(self) -> bool:
        """A bare document labelled in the form fixtures' shape (no message decisions)."""
        return (self.path.suffix.lower() not in MESSAGE_SUFFIXES
                and not set(self.expected) & _MESSAGE_KEYS)


_MESSAGE_KEYS = frozenset({"kind", "request_type", "regulation", "missing", "complete", "urgent",
                           "would_acknowledge", "case_ref", "follows", "message_id", "sender",
                           "subject", "checklist", "documents"})


def find_samples(directory: Path) -> tuple[list[Sample], list[str]]:
    """The labelled files of a folder, and notes on files that cannot be evaluated."""
    if not directory.is_dir():
        return [], [f"{directory} is not a folder"]
    samples: list[Sample] = []
    notes: list[str] = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix.lower() in SAMPLE_SUFFIXES:
            label = read_label(path)
            if isinstance(label, str):
                notes.append(label)
            else:
                samples.append(Sample(path.stem, path, label))
    return _unique(samples, notes), notes


def read_label(path: Path) -> dict[str, Any] | str:
    """The expected JSON beside a file, or why it cannot be used."""
    expected = path.with_name(path.stem + EXPECTED_SUFFIX)
    if not expected.is_file():
        return f"{path.name} has no {expected.name}: not evaluated"
    try:
        data = json.loads(expected.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{expected.name} cannot be read: {exc}"
    if not isinstance(data, dict):
        return f"{expected.name} is not a JSON object: not evaluated"
    return data


def _unique(samples: list[Sample], notes: list[str]) -> list[Sample]:
    """One file per name: names key the baseline and the 'follows' links."""
    seen: dict[str, Sample] = {}
    for sample in samples:
        if sample.name in seen:
            notes.append(f"{sample.path.name}: another file is named {sample.name}: skipped")
        else:
            seen[sample.name] = sample
    names = set(seen)
    for sample in seen.values():
        followed = sample.expected.get("follows")
        if isinstance(followed, str) and followed not in names:
            notes.append(f"{sample.name} follows {followed}, which is not here: "
                         "evaluated on its own")
    return list(seen.values())


class Progress:
    """A one-line progress count on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()

    def step(self, number: int, name: str) -> None:
        """Show which file is being evaluated."""
        if self.enabled:
            self.stream.write(f"\r\x1b[K[{number}/{self.total}] {name}")
            self.stream.flush()

    def done(self) -> None:
        """Clear the line."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def evaluate_samples(samples: Sequence[Sample], profile: Profile, limits: Limits,
                     progress: Progress | None = None) -> dict[str, FileScore]:
    """Run the profile's rules on every sample (followed messages first) and score each."""
    labels = {s.name: s.expected for s in samples}
    by_name = {s.name: s for s in samples}
    book = CaseBook(case_references(labels))
    scores: dict[str, FileScore] = {}
    for number, sample in enumerate((by_name[n] for n in follow_order(labels)), 1):
        if progress:
            progress.step(number, sample.name)
        try:
            actual = (observe_form(sample.path, profile, limits) if sample.is_form
                      else observe_message(sample, profile, limits, book))
            scores[sample.name] = compare(sample.expected, actual)
        except (IntakeError, OSError) as exc:
            scores[sample.name] = failed(sample.expected, str(exc))
    if progress:
        progress.done()
    return scores


def observe_form(path: Path, profile: Profile, limits: Limits) -> dict[str, Any]:
    """What the rules read from a bare form, in the form fixtures' shape."""
    doc = file_to_document(path.name, path.read_bytes(), profile.extraction, limits)
    return {"document_kind": doc.kind, "language": doc.language,
            "signed": any(s.signed for s in doc.signatures),
            "fields": {f.key: f.value for f in doc.fields}}


def observe_message(sample: Sample, profile: Profile, limits: Limits,
                    book: CaseBook) -> dict[str, Any]:
    """Triage a message as the pipeline would; a follow-up is seen with its case merged."""
    parsed = load_as_message(sample.path, limits)
    extraction = replace(extract_message(parsed, profile.extraction, limits),
                         rules_version=profile.version)
    result = triage_message(parsed, extraction, profile.triage, profile.name,
                            book.hints_for(parsed, profile.triage))
    chain, subject = book.file(sample, parsed, result)
    return observed(parsed, result, chain, subject, profile.triage)


def observed(parsed: ParsedMessage, result: TriageResult, chain: Sequence[TriageResult],
             subject: str, rules: TriageRules) -> dict[str, Any]:
    """The triage --json attributes compared; those of the merged case for a follow-up."""
    seen: dict[str, Any] = {
        "kind": result.kind, "language": result.language.value,
        "urgent": result.urgent.value == "yes", "would_acknowledge": result.would_acknowledge,
        # Labels give the reference the message cites, not the case it was filed in.
        "case_ref": find_case_ref([parsed.subject, parsed.body_text], rules),
        "request_type": result.request_type.value, "regulation": result.regulation.value,
        "missing": list(result.missing), "complete": result.complete,
        "fields": {k: v.value for k, v in result.fields.items()},
    }
    if len(chain) > 1:
        case = retriage_case(chain, subject, rules)
        seen.update(request_type=case.request_type, regulation=case.regulation.value,
                    missing=list(case.missing), complete=bool(case.checklist) and not case.missing,
                    fields={k: v.value for k, v in case.fields.items()})
    return seen


@dataclass
class CaseBook:
    """What the case store would know while the labelled messages arrive (thread hints)."""

    refs: Mapping[str, str]  # first message of a case -> the reference its follow-ups cite
    chains: dict[str, list[TriageResult]] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)
    case_of: dict[str, str] = field(default_factory=dict)  # sample name -> reference
    message_case: dict[str, str] = field(default_factory=dict)  # Message-ID -> reference
    types: dict[str, str] = field(default_factory=dict)  # reference -> request type

    def hints_for(self, parsed: ParsedMessage, rules: TriageRules) -> ThreadHints:
        """The hints the pipeline would pass: known references and threads."""
        ids = dict(self.message_case)
        # Our acknowledgements' Message-IDs carry the case reference (replies.new_message_id),
        # so a reply to one threads into its case.
        for replied in (*parsed.in_reply_to, *parsed.references):
            ref = next((r for r in self.types if r.casefold() in replied.casefold()), None)
            if ref is not None:
                ids.setdefault(replied, ref)
        return thread_hints(parsed, rules, set(self.types), ids, self.types)

    def file(self, sample: Sample, parsed: ParsedMessage,
             result: TriageResult) -> tuple[list[TriageResult], str]:
        """File a message into the case it follows, or open one; return the case so far."""
        followed = sample.expected.get("follows")
        if isinstance(followed, str) and followed in self.chains:
            chain = [*self.chains[followed], result]
            subject, ref = self.subjects[followed], self.case_of[followed]
        else:
            chain, subject = [result], parsed.subject
            ref = self.refs.get(sample.name, f"CASE-{sample.name}")
            self.types[ref] = result.request_type.value or ""
        self.chains[sample.name], self.subjects[sample.name] = chain, subject
        self.case_of[sample.name] = ref
        if parsed.message_id:
            self.message_case[parsed.message_id] = ref
        return chain, subject


# --- reports -------------------------------------------------------------------------------


def eval_report(scores: Mapping[str, FileScore], directory: Path, profile: Profile) -> list[str]:
    """The accuracy tables of a run and every miss, one line per string."""
    totals = precision_recall(scores.values())
    lines = [f"rules eval: {totals.files} files in {directory}, profile {profile.name} "
             f"(version {profile.version})", ""]
    lines += [*field_table(totals), "", *attribute_table(totals), ""]
    wrong = [line for name, score in sorted(scores.items()) for line in misses(name, score)]
    return lines + ([f"Misses ({len(wrong)}):"] + [f"  {m}" for m in wrong] if wrong
                    else ["Misses: none"])


def field_table(totals: Scores) -> list[str]:
    """Per-field precision and recall, with every field together on the last row."""
    if not totals.fields:
        return ["Fields: none labelled"]
    rows = [_field_row(key, counts) for key, counts in totals.fields.items()]
    rows.append(_field_row("all fields", totals.all_fields()))
    return format_table(["field", "expected", "found", "correct", "wrong", "missed", "extra",
                         "precision", "recall"], rows)


def _field_row(name: str, counts: FieldCounts) -> list[str]:
    return [name, str(counts.expected), str(counts.found), str(counts.correct),
            str(counts.wrong), str(counts.missed), str(counts.extra), ratio(counts.precision),
            ratio(counts.recall)]


def attribute_table(totals: Scores) -> list[str]:
    """Per-attribute accuracy."""
    if not totals.attributes:
        return ["Attributes: none labelled"]
    return format_table(["attribute", "right", "total", "accuracy"],
                        [[name, str(c.right), str(c.total), ratio(c.accuracy)]
                         for name, c in totals.attributes.items()])


def format_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Align a table: the first column to the left, the numbers to the right."""
    widths = [max(len(str(r[i])) for r in [columns, *rows]) for i in range(len(columns))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in [columns, *rows]]


def baseline_report(baseline: Mapping[str, FileScore], current: Mapping[str, FileScore],
                    path: Path) -> tuple[list[str], bool]:
    """What moved since the baseline; True when any file got worse."""
    worse, better = regressions(baseline, current), improvements(baseline, current)
    moved = score_changes(precision_recall(baseline.values()), precision_recall(current.values()))
    lines = ["", f"Against the baseline {path}:"]
    lines += [f"  {line}" for line in moved] or ["  no measure moved"]
    lines += [f"  WORSE {c.describe()}" for c in worse]
    lines += [f"  BETTER {c.describe()}" for c in better]
    gone = sorted(set(baseline) - set(current))
    if gone:
        lines.append(f"  not evaluated now: {', '.join(gone)}")
    if worse:
        files = len({c.file for c in worse})
        lines.append(f"REGRESSED: {len(worse)} change(s) for the worse in {files} file(s)")
    else:
        lines.append("No regressions.")
    return lines, bool(worse)


def _read_baseline(path: Path) -> dict[str, FileScore] | str:
    """The baseline's per-file results, or why it cannot be used."""
    try:
        return baseline_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        return f"cannot use the baseline {path}: {exc}"


def _write_baseline(path: Path, scores: Mapping[str, FileScore], profile: Profile,
                    directory: Path) -> None:
    data = baseline_to_json(scores, profile=profile.name, rules_version=profile.version,
                            directory=str(directory))
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"baseline written: {path} ({len(scores)} files)")


# --- reviewers' corrections ------------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """A reviewer's value for a field of a case, beside what extraction had found."""

    case_ref: str
    key: str
    corrected: str
    extracted: str | None
    rule: str | None


def corrections_report(settings: Settings) -> int:
    """Per-field accuracy of extraction against the values reviewers set on cases."""
    from storage.db import make_safe

    url = database_url(settings)
    try:
        found = read_corrections(url)
    except IntakeError as exc:
        print(f"rules eval: cannot read the database {make_safe(url)}: {exc}", file=sys.stderr)
        return 1
    print(f"reviewers' corrections in {make_safe(url)}: {len(found)} values on "
          f"{len({c.case_ref for c in found})} case(s)")
    if not found:
        return 0
    scores = correction_scores((c.key, c.corrected, c.extracted) for c in found)
    rows = [[key, str(c.expected), str(c.correct), str(c.wrong), str(c.missed), ratio(c.recall)]
            for key, c in scores.items()]
    print("\n".join(format_table(["field", "reviewed", "right", "wrong", "missed", "accuracy"],
                                 rows)))
    wrong = [c for c in found if not same_value(c.corrected, c.extracted or "")]
    for c in wrong:
        print(f"  {c.case_ref}: {c.key} extracted {c.extracted!r} by {c.rule or '-'}, "
              f"corrected to {c.corrected!r}")
    return 0


def read_corrections(url: str) -> list[Correction]:
    """Read (never write) each current reviewer value with the current extracted value."""
    from sqlalchemy import and_, select
    from sqlalchemy.orm import aliased

    from storage.db import Database
    from storage.models import Case, ExtractedField

    if url.startswith("sqlite") and not _sqlite_exists(url):
        raise IntakeError("no database there yet")
    reviewer, extracted = aliased(ExtractedField), aliased(ExtractedField)
    query = (
        select(Case.ref, reviewer.key, reviewer.value, extracted.value, extracted.rule)
        .join(Case, Case.id == reviewer.case_id)
        .outerjoin(extracted, and_(extracted.case_id == reviewer.case_id,
                                   extracted.key == reviewer.key,
                                   extracted.origin == "extracted",
                                   extracted.superseded_by.is_(None)))
        .where(reviewer.origin == "reviewer", reviewer.superseded_by.is_(None))
        .order_by(Case.ref, reviewer.key, extracted.id)
    )
    database = Database.open(url)
    try:
        with database.session() as s:
            rows = s.execute(query).all()
    finally:
        database.dispose()
    # Should two extracted values be current, the newest (last) is the one shown.
    latest = {(r[0], r[1]): Correction(r[0], r[1], r[2], r[3], r[4]) for r in rows}
    return list(latest.values())


def _sqlite_exists(url: str) -> bool:
    """Whether a SQLite URL names a file that exists (opening it would create it)."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if not name:
        return False
    return name == ":memory:" or Path(name).is_file()
