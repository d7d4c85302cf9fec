"""Field values of a case, with provenance; newer differing values supersede, all are kept.

Extracted values and reviewer values form two separate chains per key: a new extracted value
supersedes the current extracted one, a reviewer value the current reviewer one, and the
current reviewer value wins over the extracted one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from parsers.records import FieldValue, Source
from storage.db import storage_errors
from storage.events import add_event
from storage.models import Case, CaseMessage, Document, ExtractedField, JsonDict, utcnow
from storage.sql import attach

REVIEWER_RULE = "reviewer"


def source_to_dict(source: Source) -> JsonDict:
    """Return a source as JSON data, keys whose value is None left out."""
    return {k: v for k, v in asdict(source).items() if v is not None}


def _current(s: Session, case_id: int, key: str, origin: str) -> ExtractedField | None:
    """Return the value of a key that nothing supersedes yet in one chain."""
    return s.scalars(
        select(ExtractedField)
        .where(
            ExtractedField.case_id == case_id,
            ExtractedField.key == key,
            ExtractedField.origin == origin,
            ExtractedField.superseded_by.is_(None),
        )
        .order_by(ExtractedField.id.desc())
        .limit(1)
    ).first()


def _supersede(s: Session, current: ExtractedField | None, row: ExtractedField) -> None:
    """Store row and point the value it replaces at it."""
    s.add(row)
    s.flush()
    if current is not None:
        current.superseded_by = row.id
        s.flush()


def _extracted_row(
    case: Case, msg: CaseMessage | None, field: FieldValue, document: Document | None
) -> ExtractedField:
    """Return a new row for an extracted value."""
    return ExtractedField(
        case_id=case.id,
        case_message_id=msg.id if msg is not None else None,
        document_id=document.id if document is not None else None,
        key=field.key,
        value=field.value,
        raw=field.raw,
        source=source_to_dict(field.source),
        source_text=field.source.describe(),
        rule=field.rule,
        confidence=field.confidence,
        origin="extracted",
    )


def _best_first(fields: Iterable[FieldValue]) -> dict[str, list[FieldValue]]:
    """Group candidates by key, the most confident first (the earliest on a tie)."""
    groups: dict[str, list[FieldValue]] = {}
    for field in fields:
        groups.setdefault(field.key, []).append(field)
    return {key: sorted(group, key=lambda f: -f.confidence) for key, group in groups.items()}


def _row_for(
    case: Case, msg: CaseMessage | None, field: FieldValue, by_sha: Mapping[str, Document]
) -> ExtractedField:
    """Return a new row for a candidate, linked to the document it came from."""
    sha = field.source.sha256
    return _extracted_row(case, msg, field, by_sha.get(sha) if sha else None)


@dataclass
class _Recorded:
    """What a case already holds for its keys: read in one query, not two per key."""

    known: dict[str, set[tuple[str, str]]] = dataclasses.field(default_factory=dict)
    current: dict[str, ExtractedField] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, s: Session, case_id: int, keys: Iterable[str]) -> _Recorded:
        """Read the recorded values of the given keys of a case."""
        recorded = cls()
        wanted = list(keys)
        if not wanted:
            return recorded
        rows = s.scalars(select(ExtractedField).where(
            ExtractedField.case_id == case_id, ExtractedField.key.in_(wanted)))
        for row in sorted(rows, key=lambda r: r.id):
            recorded.known.setdefault(row.key, set()).add((row.value, row.source_text))
            if row.origin == "extracted" and row.superseded_by is None:
                recorded.current[row.key] = row  # the newest unsuperseded one wins
        return recorded


@storage_errors
def add_fields(
    s: Session,
    case: Case,
    msg: CaseMessage | None,
    fields: Iterable[FieldValue],
    documents_by_sha: Mapping[str, Document],
) -> list[ExtractedField]:
    """Record extracted values; return the rows added.

    Per key, the most confident candidate of this call becomes current when it differs from
    the current value (superseding it); other differing candidates are kept as alternatives,
    already superseded by the current value.
    """
    groups = _best_first(fields)
    recorded = _Recorded.of(s, case.id, groups)
    added: list[ExtractedField] = []
    links: list[tuple[ExtractedField, str]] = []  # row -> the key whose current value it yields to
    for key, (best, *others) in groups.items():
        current = recorded.current.get(key)
        if current is None or current.value != best.value:
            if current is not None:
                links.append((current, key))
            current = recorded.current[key] = _row_for(case, msg, best, documents_by_sha)
            s.add(current)
            added.append(current)
        known = recorded.known.setdefault(key, set())
        for other in others:
            where = other.source.describe()
            if other.value == current.value or (other.value, where) in known:
                continue  # the same value again, or an alternative already on record
            alternative = _row_for(case, msg, other, documents_by_sha)
            s.add(alternative)  # kept for the reviewer, never current
            added.append(alternative)
            links.append((alternative, key))
            known.add((other.value, where))
    s.flush()  # one batch of inserts: the new current rows get the ids the others point at
    for row, key in links:
        row.superseded_by = recorded.current[key].id
    s.flush()
    return added


@storage_errors
def current_fields(s: Session, case: Case) -> dict[str, ExtractedField]:
    """Return each key's current value: the reviewer's if any, else the extracted one."""
    rows = s.scalars(
        select(ExtractedField).where(
            ExtractedField.case_id == case.id, ExtractedField.superseded_by.is_(None)
        )
    )
    # Later entries overwrite earlier ones: reviewer rows sort last, then newer rows.
    ordered = sorted(rows, key=lambda r: (r.origin == "reviewer", r.id))
    return {row.key: row for row in ordered}


@storage_errors
def field_history(s: Session, case: Case, key: str | None = None) -> list[ExtractedField]:
    """Return every value ever recorded for a case (or one key), oldest first."""
    query = select(ExtractedField).where(ExtractedField.case_id == case.id)
    if key is not None:
        query = query.where(ExtractedField.key == key)
    return list(s.scalars(query.order_by(ExtractedField.id)))


@storage_errors
def set_reviewer_field(s: Session, case: Case, key: str, value: str, actor: str) -> ExtractedField:
    """Record a reviewer's value for a key (it wins over extraction), with an audit event."""
    before = current_fields(s, case).get(key)
    row = ExtractedField(
        case_id=case.id,
        key=key,
        value=value,
        raw=value,
        source={"channel": REVIEWER_RULE},
        source_text=f"set by {actor}",
        rule=REVIEWER_RULE,
        confidence=1.0,
        origin="reviewer",
        actor=actor,
    )
    _supersede(s, _current(s, case.id, key, "reviewer"), row)
    attach(s, case).updated_at = utcnow()
    old = before.value if before is not None else None
    add_event(s, case, actor, "field_set", {"key": key, "old": old, "new": value})
    return row
