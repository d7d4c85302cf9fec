"""`derogation-intake rules eval`: measure the rules against labelled files and a baseline.

Each labelled file (<name>.expected.json beside it) is read as the pipeline would, follow-ups
merged into the case they follow, and scored field by field; the run is printed as precision
and recall tables, compared with a saved baseline, and can be saved as the next baseline.
``--from-corrections`` scores extraction against the values reviewers set on cases.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from config.errors import IntakeError
from config.profiles import Profile
from config.settings import Settings
from config.triage_rules import TriageRules
from config.vocabulary import MessageKind, MessageRole
from intake.commands.probe import MESSAGE_SUFFIXES, load_as_message
from intake.commands.rules_probe import resolve_profile
from intake.runtime import database_url, limits_from
from parsers.extract import extract_message, file_to_document
from parsers.records import Limits, ParsedMessage
from triage.case import MessageFacts, case_state, facts_of, opening_role
from triage.caseref import find_case_ref
from triage.engine import triage_message
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
    missing_checks,
    precision_recall,
    ratio,
    regressions,
    same_value,
    score_changes,
)
from triage.kind import thread_hints
from triage.records import TriageResult
from triage.threading import ThreadHints

SAMPLE_SUFFIXES = (".eml", ".msg", ".pdf", ".docx")
EXPECTED_SUFFIX = ".expected.json"
_USAGE = 2  # the exit status of a command given wrong arguments (as argparse uses)


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
    return observed(parsed, result, book.file(sample, parsed, result), profile.triage)


def observed(parsed: ParsedMessage, result: TriageResult, chain: Sequence[MessageFacts],
             rules: TriageRules) -> dict[str, Any]:
    """The triage --json attributes compared: the message's own, and its case's state.

    The case's attributes are what filing stores (``triage.case.case_state``) once the
    message is filed into the case it follows (or opens).
    """
    case = case_state(chain, (), None, rules)
    return {
        "kind": result.kind, "would_acknowledge": result.would_acknowledge,
        # Labels give the reference the message cites, not the case it was filed in.
        "case_ref": find_case_ref([parsed.subject, parsed.body_text], rules),
        "language": case.language.value, "urgent": case.urgent.value == "yes",
        "request_type": case.request_type.value, "regulation": case.regulation.value,
        "missing": list(case.missing), "complete": case.complete,
        "fields": {k: v.value for k, v in case.values.items()},
    }


@dataclass
class CaseBook:
    """What the case store would know while the labelled messages arrive (thread hints)."""

    refs: Mapping[str, str]  # first message of a case -> the reference its follow-ups cite
    chains: dict[str, list[MessageFacts]] = field(default_factory=dict)
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
             result: TriageResult) -> list[MessageFacts]:
        """File a message into the case it follows, or open one; return the case so far."""
        followed = sample.expected.get("follows")
        if isinstance(followed, str) and followed in self.chains:
            role = (MessageRole.AUTOMATED if result.kind == MessageKind.AUTOMATED
                    else MessageRole.FOLLOW_UP)
            chain = [*self.chains[followed], facts_of(result, role, parsed.subject)]
            ref = self.case_of[followed]
        else:
            chain = [facts_of(result, opening_role(result.kind), parsed.subject)]
            ref = self.refs.get(sample.name, f"CASE-{sample.name}")
            self.types[ref] = result.request_type.value or ""
        self.chains[sample.name] = chain
        self.case_of[sample.name] = ref
        if parsed.message_id:
            self.message_case[parsed.message_id] = ref
        return chain


# --- reports -------------------------------------------------------------------------------


def eval_report(scores: Mapping[str, FileScore], directory: Path, profile: Profile) -> list[str]:
    """The accuracy tables of a run and every miss, one line per string."""
    totals = precision_recall(scores.values())
    lines = [f"rules eval: {totals.files} files in {directory}, profile {profile.name} "
             f"(version {profile.version})", ""]
    lines += [*field_table(totals), "", *attribute_table(totals), *checks_line(scores, profile),
              ""]
    wrong = [line for name, score in sorted(scores.items()) for line in misses(name, score)]
    return lines + ([f"Misses ({len(wrong)}):"] + [f"  {m}" for m in wrong] if wrong
                    else ["Misses: none"])


def checks_line(scores: Mapping[str, FileScore], profile: Profile) -> list[str]:
    """How often a required item the request holds was reported missing."""
    required = {kind: [r.id for r in items if r.severity == "required"]
                for kind, items in profile.triage.checklists.items()}
    counts = missing_checks(scores.values(), required)
    if not counts.checks:
        return []
    return ["", f"required items held: {counts.checks} checks, {counts.wrongly_missing} "
                f"reported missing (right {ratio(counts.right)})"]


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


def corrections_report(settings: Settings) -> int:
    """Per-field accuracy of extraction against the values reviewers set on cases."""
    from storage.corrections import read_corrections
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

