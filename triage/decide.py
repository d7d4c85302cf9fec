"""Request type, regulation and urgency: weighted votes of the profile's cues, with reasons."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime

from config.triage_rules import Cue, TriageRules
from config.vocabulary import Regulation, names
from parsers.records import ExtractedDocument, FieldValue
from triage.records import Decision, Hit

Vote = tuple[str, float, str]  # (label, weight, reason)


def decide_request_type(rules: TriageRules, hits: Sequence[Hit],
                        documents: Sequence[ExtractedDocument],
                        fields: Mapping[str, FieldValue]) -> Decision:
    """Return the request type with the most cue weight; the profile's default otherwise."""
    votes = list(cue_votes(rules.request_type.cues, hits, documents, fields))
    scores = _totals(votes)
    reasons = tuple(reason for _, _, reason in votes)
    best = _winner(scores)
    if best is None:
        default = rules.request_type.default
        why = "cues tie" if scores else "no cue"
        return Decision(default, (*reasons, f"{why}: default {default}"))
    return Decision(best, (*reasons, _summary(scores)))


def cue_votes(cues: Sequence[Cue], hits: Sequence[Hit], documents: Sequence[ExtractedDocument],
              fields: Mapping[str, FieldValue]) -> Iterator[Vote]:
    """Yield one vote per cue that hit a text, a document kind or a field (each cue once)."""
    for cue in cues:
        reason = (_text_reason(cue, hits) or _document_reason(cue, documents)
                  or _field_reason(cue, fields))
        if reason:
            yield cue.label, cue.weight, f"{reason} (+{cue.weight:g} {cue.label})"


def _text_reason(cue: Cue, hits: Sequence[Hit]) -> str | None:
    """Describe the first text hit of a cue."""
    hit = next((h for h in hits if h.cue == cue.id), None)
    return hit.describe() if hit else None


def _document_reason(cue: Cue, documents: Sequence[ExtractedDocument]) -> str | None:
    """Describe the first document whose kind the cue names."""
    doc = next((d for d in documents if d.kind in cue.documents), None)
    return f"{cue.id}: {doc.filename} is {doc.kind}" if doc else None


def _field_reason(cue: Cue, fields: Mapping[str, FieldValue]) -> str | None:
    """Describe the first field the cue names that has a value."""
    key = next((k for k in cue.fields if k in fields), None)
    return f"{cue.id}: field {key} given ({fields[key].source.describe()})" if key else None


def decide_regulation(rules: TriageRules, hits: Sequence[Hit],
                      fields: Mapping[str, FieldValue]) -> Decision:
    """Return MDR or IVDR from the regulation field, the risk class and words; else None."""
    votes = [*_regulation_field_votes(rules, fields),
             *cue_votes(rules.regulation.cues, hits, (), fields)]
    scores = _totals(votes)
    reasons = tuple(reason for _, _, reason in votes)
    best = _winner(scores)
    if best is None:
        return Decision(None, (*reasons, "cues conflict" if scores else "no regulation cue"))
    return Decision(best, (*reasons, _summary(scores)))


def _regulation_field_votes(rules: TriageRules, fields: Mapping[str, FieldValue]) -> list[Vote]:
    """Votes of the regulation field and of the risk class (A to D is IVDR)."""
    votes: list[Vote] = []
    rule = rules.regulation
    stated = fields.get(rule.field)
    if stated is not None and stated.value.upper() in names(Regulation):
        value = stated.value.upper()
        votes.append((value, rule.field_weight, f"regulation.field: {rule.field} = {value} "
                      f"({stated.source.describe()}) (+{rule.field_weight:g} {value})"))
    risk = fields.get("risk_class")
    regulation = _risk_class_regulation(rule.risk_classes, risk.value) if risk else None
    if risk is not None and regulation is not None:
        votes.append((regulation, rule.risk_class_weight,
                      f"regulation.risk_class: risk class {risk.value} "
                      f"({risk.source.describe()}) (+{rule.risk_class_weight:g} {regulation})"))
    return votes


def _risk_class_regulation(classes: Mapping[str, str], value: str) -> str | None:
    """Look a risk class up exactly, then ignoring case ("iia" is "IIa")."""
    if value in classes:
        return classes[value]
    folded = {k.casefold(): v for k, v in classes.items()}
    return folded.get(value.strip().casefold())


def decide_urgency(rules: TriageRules, hits: Sequence[Hit], fields: Mapping[str, FieldValue],
                   message_date: datetime | None) -> Decision:
    """Return "yes" when use is planned within the threshold or urgency words hit, else "no"."""
    reasons = [h.describe() for h in hits if h.label == "urgent"]
    negated = [f"{h.describe()} (negation)" for h in hits if h.label == "not_urgent"]
    date_reason = _date_reason(rules, fields, message_date)
    if date_reason and date_reason[0]:
        reasons.insert(0, date_reason[1])
    if reasons:
        return Decision("yes", (*reasons, *negated))
    why = [date_reason[1]] if date_reason else []
    return Decision("no", (*why, *negated) or ("no urgency word, no near date of use",))


def _date_reason(rules: TriageRules, fields: Mapping[str, FieldValue],
                 message_date: datetime | None) -> tuple[bool, str] | None:
    """Return (urgent?, reason) from the planned date of use, or None when it can't tell."""
    field = fields.get(rules.urgency.date_field)
    planned = _iso_date(field.value) if field else None
    if field is None or planned is None or message_date is None:
        return None
    days = (planned - message_date.date()).days
    threshold = rules.urgency.days_threshold
    when = f"{days} days after" if days >= 0 else f"{-days} days before"
    reason = (f"urgency.date: {rules.urgency.date_field} {planned.isoformat()} is {when} the "
              f"message (threshold {threshold} days; {field.source.describe()})")
    return days <= threshold, reason


def _iso_date(value: str) -> date | None:
    """Parse an ISO date (the extraction's normal form); None if it is not one."""
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _totals(votes: Sequence[Vote]) -> dict[str, float]:
    """Sum the weights of the votes per label."""
    totals: dict[str, float] = {}
    for label, weight, _ in votes:
        totals[label] = totals.get(label, 0.0) + weight
    return totals


def _winner(scores: Mapping[str, float]) -> str | None:
    """Return the label with the strictly highest positive score, or None."""
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if not ranked or ranked[0][1] <= 0:
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]


def _summary(scores: Mapping[str, float]) -> str:
    """Return e.g. "score: compassionate_use 8, national_derogation 3"."""
    return "score: " + ", ".join(f"{label} {score:g}"
                                 for label, score in sorted(scores.items(), key=lambda i: -i[1]))
