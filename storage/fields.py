"""Field values of a case, with provenance; newer differing values supersede, all are kept.

Extracted values and reviewer values form two separate chains per key. Which extracted value
is current is the case state's decision (``triage.case``): ``standing_writes`` and
``write_fields`` record it; a reviewer value supersedes the current reviewer one, and the
current reviewer value wins over the extracted one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from config.vocabulary import FieldOrigin
from parsers.records import FieldValue, Source
from storage.db import storage_errors
from storage.events import add_event
from storage.models import Case, CaseMessage, Document, ExtractedField, JsonDict, utcnow
from storage.sql import attach

REVIEWER_RULE = "reviewer"


_SOURCE_KEYS = tuple(f.name for f in fields(Source))


def source_to_dict(source: Source) -> JsonDict:
    """Return a source as JSON data, keys whose value is None left out."""
    # Not dataclasses.asdict: its deep copy of every value was a tenth of filing's time.
    return {k: v for k in _SOURCE_KEYS if (v := getattr(source, k)) is not None}


def source_from_dict(data: JsonDict | None, channel: str) -> Source:
    """Return the source ``source_to_dict`` wrote (``channel`` when it names none)."""
    known = {k: v for k, v in (data or {}).items() if k in Source.__dataclass_fields__}
    known.setdefault("filename", None)
    known.setdefault("sha256", None)
    known.setdefault("channel", channel)
    return Source(**known)


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
    case: Case, message_id: int | None, field: FieldValue, document: Document | None
) -> ExtractedField:
    """Return a new row for an extracted value."""
    return ExtractedField(**_extracted_columns(case, message_id, field, document))


def _extracted_columns(
    case: Case, message_id: int | None, field: FieldValue, document: Document | None
) -> dict[str, object]:
    """The columns of a new row for an extracted value."""
    return dict(
        case_id=case.id,
        case_message_id=message_id,
        document_id=document.id if document is not None else None,
        key=field.key,
        value=field.value,
        raw=field.raw,
        source=source_to_dict(field.source),
        source_text=field.source.describe(),
        rule=field.rule,
        confidence=field.confidence,
        origin=FieldOrigin.EXTRACTED,
        superseded_by=None,
    )


@dataclass(frozen=True)
class FieldWrite:
    """A key whose current extracted value changes: the new value, or None to withdraw it."""

    key: str
    value: FieldValue | None
    message_id: int | None  # the filed message that stated the new value


def standing_writes(current: Mapping[str, ExtractedField],
                    standing: Mapping[str, tuple[FieldValue, int | None]]) -> list[FieldWrite]:
    """What makes the current extracted values the standing ones (the case state's).

    ``standing`` maps a key to its value and the message row that stated it. A key whose
    value is unchanged keeps its row (and its first source); one no longer stated is
    withdrawn.
    """
    writes = []
    for key in sorted({*current, *standing}):
        row = current.get(key)
        old = row.value if row is not None and row.value.strip() else None
        new, message_id = standing.get(key, (None, None))
        if old != (new.value if new is not None else None):
            writes.append(FieldWrite(key, new, message_id if new is not None else None))
    return writes


@storage_errors
def write_fields(s: Session, case: Case, writes: Iterable[FieldWrite],
                 documents: Sequence[Document], withdrawn_by: str,
                 history: list[ExtractedField] | None = None) -> list[ExtractedField]:
    """Make each write's value current, superseding the one before (nothing is deleted).

    ``writes`` holds one write a key. A withdrawn value is superseded by an empty one whose
    rule says ``withdrawn_by``.
    ``history``, when given, is every value of the case in id order (``field_history``):
    it is read from instead of the database, and the new rows are added to it.
    """
    if history is None:
        history = field_history(s, case)
    current = current_of(history)
    writes = list(writes)
    columns = []
    for write in writes:
        value = write.value or FieldValue(write.key, "", "", Source(None, None, withdrawn_by),
                                          f"{withdrawn_by}: no message states it", 0.0)
        columns.append(_extracted_columns(case, write.message_id, value,
                                          _document_of(value, write, documents)))
    # One INSERT of the new rows, bypassing the unit of work (its bookkeeping per object was
    # most of the time spent filing a request's fields); then the values they supersede.
    # Every row names every column (render_nulls: an empty one is sent as NULL, not left
    # out), or rows leaving out different columns go in separate statements. The new rows
    # are matched to their writes by key: an order asked of RETURNING, SQLite gives by
    # inserting a row at a time (15 statements a request where this takes one).
    inserted = s.scalars(insert(ExtractedField).returning(ExtractedField)
                         .execution_options(render_nulls=True), columns) if columns else ()
    by_key = {row.key: row for row in inserted}
    added = [by_key[write.key] for write in writes]
    for write, row in zip(writes, added, strict=True):
        before = current.get(write.key)
        if before is not None:
            before.superseded_by = row.id
    s.flush()
    history.extend(sorted(added, key=lambda row: row.id))
    return added


def _document_of(value: FieldValue, write: FieldWrite,
                 documents: Sequence[Document]) -> Document | None:
    """The stored document a value was found in (of the message that stated it)."""
    sha = value.source.sha256
    if not sha:
        return None
    return next((d for d in documents if d.sha256 == sha
                 and d.case_message_id == write.message_id), None)


@storage_errors
def keep_alternatives(s: Session, case: Case, msg: CaseMessage | None,
                      candidates: Iterable[FieldValue],
                      documents_by_sha: Mapping[str, Document],
                      history: list[ExtractedField] | None = None) -> list[ExtractedField]:
    """Keep a message's candidates that differ from their key's current value, for reviewers.

    Each is stored already superseded by the current value; a value already on record from
    the same place, or a key without a current value, adds nothing. ``history`` as for
    ``write_fields``.
    """
    if history is None:
        history = field_history(s, case)
    current = current_of(history)
    known = {(r.key, r.value, r.source_text) for r in history}
    added = []
    for field in candidates:
        row = current.get(field.key)
        place = (field.key, field.value, field.source.describe())
        if row is None or not field.value.strip() or field.value == row.value or place in known:
            continue
        sha = field.source.sha256
        alternative = _extracted_row(case, msg.id if msg is not None else None, field,
                                     documents_by_sha.get(sha) if sha else None)
        alternative.superseded_by = row.id
        s.add(alternative)
        added.append(alternative)
        known.add(place)
    s.flush()
    history.extend(added)
    return added


def current_of(history: Iterable[ExtractedField],
               origin: str = FieldOrigin.EXTRACTED) -> dict[str, ExtractedField]:
    """Each key's value that nothing supersedes yet in one chain, from rows in id order."""
    return {row.key: row for row in history
            if row.origin == origin and row.superseded_by is None}


@storage_errors
def current_extracted(s: Session, case: Case) -> dict[str, ExtractedField]:
    """Return each key's current extracted value (the chain beneath the reviewers')."""
    return current_of(field_history(s, case))


@storage_errors
def reviewer_values(s: Session, case: Case) -> list[FieldValue]:
    """Return the reviewers' current values of a case, oldest first."""
    return reviewer_values_of(field_history(s, case))


def reviewer_values_of(history: Iterable[ExtractedField]) -> list[FieldValue]:
    """The reviewers' current values among a case's rows in id order, oldest first."""
    return [field_to_value(row) for row in current_of(history, FieldOrigin.REVIEWER).values()]


def field_to_value(row: ExtractedField) -> FieldValue:
    """Turn a stored field row back into the record triage works on."""
    return FieldValue(row.key, row.value, row.raw, source_from_dict(row.source, row.origin),
                      row.rule, row.confidence)


@storage_errors
def current_fields(s: Session, case: Case) -> dict[str, ExtractedField]:
    """Return each key's current value: the reviewer's if any, else the extracted one."""
    rows = s.scalars(
        select(ExtractedField).where(
            ExtractedField.case_id == case.id, ExtractedField.superseded_by.is_(None)
        )
    )
    # Later entries overwrite earlier ones: reviewer rows sort last, then newer rows.
    ordered = sorted(rows, key=lambda r: (r.origin == FieldOrigin.REVIEWER, r.id))
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
        origin=FieldOrigin.REVIEWER,
        actor=actor,
    )
    _supersede(s, _current(s, case.id, key, FieldOrigin.REVIEWER), row)
    attach(s, case).updated_at = utcnow()
    old = before.value if before is not None else None
    add_event(s, case, actor, "field_set", {"key": key, "old": old, "new": value})
    return row
