"""Completeness checklists: which items of a request type are present, missing or unclear.

Pure over fields, documents and the subject, so that a case can be re-checked over its
merged fields and documents whenever a follow-up brings more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from config.triage_rules import ChecklistRule, Condition, SignatureRule, TriageRules
from config.vocabulary import ItemStatus, Severity
from parsers.records import ExtractedDocument, FieldValue, PageProblem, Signature, Source
from triage.records import ChecklistItem

_RANK: dict[ItemStatus, int] = {ItemStatus.PRESENT: 0, ItemStatus.UNCLEAR: 1,
                                ItemStatus.MISSING: 2, ItemStatus.NOT_APPLICABLE: 3}
_PRESENT, _MISSING, _UNCLEAR = ItemStatus.PRESENT, ItemStatus.MISSING, ItemStatus.UNCLEAR


@dataclass(frozen=True)
class _Outcome:
    status: ItemStatus
    evidence: str


def evaluate_checklist(request_type: str, fields: Mapping[str, FieldValue],
                       documents: Sequence[ExtractedDocument], subject: str,
                       rules: TriageRules) -> tuple[ChecklistItem, ...]:
    """Return one item per checklist rule of the request type (none for an unknown type)."""
    given = {k: v for k, v in fields.items() if v.value.strip()}
    return tuple(_item(rule, given, documents, subject)
                 for rule in rules.checklists.get(request_type, ()))


def _item(rule: ChecklistRule, fields: Mapping[str, FieldValue],
          documents: Sequence[ExtractedDocument], subject: str) -> ChecklistItem:
    """Evaluate one rule: not applicable, or the best outcome of its ways."""
    if rule.only_if is not None and not _holds(rule.only_if, fields):
        return ChecklistItem(rule.id, _severity(rule), ItemStatus.NOT_APPLICABLE,
                             _condition_evidence(rule.only_if, fields))
    outcomes = _outcomes(rule, fields, documents, subject)
    best = min(outcomes, key=lambda o: _RANK[o.status])
    if best.status == _MISSING:
        evidence = "; ".join(o.evidence for o in outcomes)
        unread = _unread_pages(rule, documents)
        if unread:  # it may well be on a page OCR could not read: a person must look
            return ChecklistItem(rule.id, _severity(rule), _UNCLEAR,
                                 f"{evidence}; could be on {'; '.join(unread)}")
        return ChecklistItem(rule.id, _severity(rule), _MISSING, evidence)
    return ChecklistItem(rule.id, _severity(rule), best.status, best.evidence)


def _unread_pages(rule: ChecklistRule, documents: Sequence[ExtractedDocument]) -> list[str]:
    """Pages OCR could not read, or not well, of the documents that could hold the item."""
    kinds = rule.any_document or (rule.signature.documents if rule.signature else ())
    if rule.subject_pattern is not None and not (kinds or rule.all_fields or rule.any_fields):
        return []  # the subject line is never on a page
    return [f"{d.filename} {p.describe()}" for d in documents if d.error is None
            and (not kinds or d.kind in kinds or d.kind == "other") for p in d.page_problems]


def _problem_at(source: Source, documents: Sequence[ExtractedDocument]) -> PageProblem | None:
    """The problem of the page a value or signature was read from, if it was read badly."""
    return next((p for doc in documents
                 if doc.sha256 == source.sha256 or (source.sha256 is None
                                                    and doc.filename == source.filename)
                 for p in doc.page_problems if p.page == source.page), None)


def _severity(rule: ChecklistRule) -> Severity:
    """Narrow the validated severity string to the record's type."""
    return Severity(rule.severity)


def _outcomes(rule: ChecklistRule, fields: Mapping[str, FieldValue],
              documents: Sequence[ExtractedDocument], subject: str) -> list[_Outcome]:
    """Evaluate every way the rule gives to satisfy the item."""
    outcomes: list[_Outcome] = []
    if rule.any_document:
        outcomes.append(_by_document(rule.any_document, documents))
    if rule.all_fields or rule.any_fields:
        outcomes.append(_by_fields(rule.all_fields, rule.any_fields, fields, documents))
    if rule.signature is not None:
        outcomes.append(_by_signature(rule.signature, documents))
    if rule.subject_pattern is not None:
        matched = rule.subject_pattern.search(subject or "")
        outcomes.append(_Outcome(_PRESENT, "subject follows the convention") if matched
                        else _Outcome(_MISSING, f"subject {subject!r} does not follow "
                                                 "the convention"))
    return outcomes


def _holds(condition: Condition, fields: Mapping[str, FieldValue]) -> bool:
    """Evaluate ``field == value`` / ``field != value``; an absent field satisfies neither."""
    field = fields.get(condition.field)
    if field is None:
        return False
    equal = field.value.strip().casefold() == condition.value.casefold()
    return equal if condition.op == "==" else not equal


def _condition_evidence(condition: Condition, fields: Mapping[str, FieldValue]) -> str:
    """Say why a conditional item does not apply."""
    field = fields.get(condition.field)
    if field is None:
        return f"{condition.field} not given (applies only if {condition.describe()})"
    return f"{condition.field} is {field.value} (applies only if {condition.describe()})"


def _by_document(kinds: Sequence[str], documents: Sequence[ExtractedDocument]) -> _Outcome:
    """Present with a readable document of a kind; unclear when only unreadable ones."""
    readable = [d for d in documents if set(d.part_kinds()) & set(kinds) and d.error is None]
    if readable:
        return _Outcome(_PRESENT, ", ".join(_where(d, kinds) for d in readable))
    unreadable = [d for d in documents if d.error is not None
                  and (d.kind in kinds or d.kind == "other")]
    if unreadable:
        # An unreadable file of unknown kind may well be the missing one: a person must look.
        return _Outcome(_UNCLEAR, "; ".join(f"{d.filename} could not be read ({d.error})"
                                             for d in unreadable))
    return _Outcome(_MISSING, "no " + " or ".join(kinds))


def _by_fields(all_fields: Sequence[str], any_fields: Sequence[str],
               fields: Mapping[str, FieldValue],
               documents: Sequence[ExtractedDocument]) -> _Outcome:
    """Present when every field of all_fields and one of any_fields has a value."""
    lacking = [k for k in all_fields if k not in fields]
    alternatives = [k for k in any_fields if k in fields]
    if any_fields and not alternatives:
        lacking.append(" or ".join(any_fields))
    if lacking:
        return _Outcome(_MISSING, "no " + ", no ".join(lacking))
    used = [*all_fields, *alternatives[:1]]
    evidence = "; ".join(f"{k} from {fields[k].source.describe()}" for k in used)
    badly_read = [k for k in used if _problem_at(fields[k].source, documents)]
    if badly_read:  # a value from a page OCR read badly may be wrong: a person must check
        return _Outcome(_UNCLEAR, f"{evidence}; {', '.join(badly_read)} read from a page "
                                  "OCR could not read well")
    return _Outcome(_PRESENT, evidence)


def _by_signature(rule: SignatureRule, documents: Sequence[ExtractedDocument]) -> _Outcome:
    """A signed signature field, else all fallback fields, on a document of the kinds."""
    forms = [d for d in documents if set(d.part_kinds()) & set(rule.documents)]
    for doc in (d for d in forms if d.error is None):
        signed = next((s for s in _signatures_of(doc, rule.documents) if s.signed), None)
        if signed is not None:
            note = _part_note(doc, rule.documents)
            status = _UNCLEAR if _problem_at(signed.source, [doc]) else _PRESENT
            return _Outcome(status, signed.evidence or f"{signed.source.describe()}: "
                                                      f"signature '{signed.name}' is signed"
                                                      f"{note}")
        found = {f.key: f for f in doc.fields if f.value.strip()}
        # Only where no signature could be read at all: an unsigned form still carries a
        # typed date and name, so they prove nothing next to an empty signature field.
        if (not doc.signatures and rule.fallback_fields
                and all(k in found for k in rule.fallback_fields)):
            return _Outcome(_PRESENT, f"{doc.filename}: " + ", ".join(
                f"{k} {found[k].value}" for k in rule.fallback_fields))
    return _unsigned(rule, forms)


def _where(doc: ExtractedDocument, kinds: Sequence[str]) -> str:
    """The file, and the part of it that is of the kind when the file holds several."""
    return f"{doc.filename}{_part_note(doc, kinds)}"


def _part_note(doc: ExtractedDocument, kinds: Sequence[str]) -> str:
    part = next((p for p in doc.parts if p.kind in kinds), None)
    return f" ({part.kind}, {part.where})" if part is not None else ""


def _signatures_of(doc: ExtractedDocument, kinds: Sequence[str]) -> list[Signature]:
    """The signatures of the part of the kinds (all of them in a file of one document)."""
    parts = [p for p in doc.parts if p.kind in kinds]
    if not parts:
        return list(doc.signatures)
    return [s for s in doc.signatures if any(p.holds_page(s.page) for p in parts)]


def _unsigned(rule: SignatureRule, forms: Sequence[ExtractedDocument]) -> _Outcome:
    """Explain why no document of the kinds shows a signature."""
    if not forms:
        return _Outcome(_MISSING, "no " + " or ".join(rule.documents))
    if all(d.error is not None for d in forms):
        return _Outcome(_UNCLEAR, "; ".join(f"{d.filename} could not be read ({d.error})"
                                             for d in forms))
    parts = []
    for doc in (d for d in forms if d.error is None):
        unsigned = ", ".join(f"'{s.name}'" for s in doc.signatures)
        parts.append(f"{doc.filename}: signature field {unsigned} not signed" if unsigned
                     else f"{doc.filename}: no signed signature field and not all of "
                          f"{', '.join(rule.fallback_fields)}")
    return _Outcome(_MISSING, "; ".join(parts))
