"""`derogation-intake rules test`: which rule found each value in real files, and near misses.

For each file: the values found with the rule and source of each, the canonical fields not
found with the rules tried and what nearly matched (a label without a value, a value without
a label), each document's kind, and the completeness checklist.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from config.errors import IntakeError
from config.extraction_rules import FIELD_KEYS, ExtractionRules, FieldRule, LabelRule
from config.profiles import Profile, load_profile, load_profile_from
from config.settings import Settings
from intake.commands.probe import load_as_message, probe_message
from intake.runtime import limits_from
from parsers.label_match import ACCEPT, close_labels
from parsers.labels import find_label, label_candidates, match_label
from parsers.normalise import normalise
from parsers.records import ExtractedDocument, FieldValue, ParsedMessage
from triage.records import TriageResult

_MARKS = {"present": "✓", "missing": "✗", "unclear": "?", "not_applicable": "–"}


def resolve_profile(name_or_folder: str | None, settings: Settings) -> Profile:
    """A profile folder given as a path, a profile of general.profiles_dir by name, or the
    first mailbox's."""
    if name_or_folder and Path(name_or_folder).is_dir():
        return load_profile_from(Path(name_or_folder))
    default = settings.mailboxes[0].profile if settings.mailboxes else "famhp"
    return load_profile(name_or_folder or default, settings.general.profiles_dir)


# --- the report ----------------------------------------------------------------------------


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
    """Rule ids named in a note, e.g. famhp.label.device_model.en.model."""
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
    """One id as it is; several as the field's stem: famhp.label.device_name.*."""
    profile, rule, key = first.split(".")[:3]
    return first if count == 1 else f"{profile}.{rule}.{key}.*"


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

# <profile>.label.<field>.<language>.<slug> or <profile>.name.<field>.<slug> (config/rule_ids.py)
_RULE_ID = re.compile(r"\b[a-z][a-z0-9_]*\.(?:label\.[a-z0-9_]+\.[a-z]{2}|name\.[a-z0-9_]+)"
                      r"\.[a-z0-9_]+(?:-[a-z0-9_]+)*")
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
    hit = match_label(rules, head)
    if not separated or (hit is not None and hit.decided):
        return None  # prose, or another field's own label
    close = _close_note(rule, rules, line, head, value)
    inside = [label for label in rule.labels for f in forms if f" {label.folded} " in f" {f} "]
    if close is not None or not inside:
        return close
    part = max(inside, key=lambda label: len(label.folded))
    beside = f", value {value!r}" if value else ""
    return (f'printed label "{head}" on {line.where}{beside} contains "{part.text}" '
            f"({part.id}) but is not a label of {rule.key}: add it to "
            f"fields.{rule.key}.labels.{part.language}?")


def _close_note(rule: FieldRule, rules: ExtractionRules, line: TextLine, head: str,
                value: str) -> str | None:
    """A printed label close to one of the field's labels, but too weak or tied to be read."""
    close = close_labels(rules, head, [rule.key])
    if not close:
        return None
    best = close[0]
    beside = f", value {value!r}" if value else ""
    return (f'printed label "{head}" on {line.where}{beside} is close to "{best.rule.text}" '
            f"({best.rule.id}, score {best.score:.2f}, {ACCEPT:.2f} needed and clear of other "
            f"fields): add \"{head}\" to fields.{rule.key}.labels.{best.rule.language}?")


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

