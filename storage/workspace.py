"""What reviewers do to cases in the workspace: find, assign, annotate, link, merge, move.

Every change appends a case event naming the logged-in reviewer. Merges and moves keep what
they moved (in the link row or the event) so that they can be undone; the checklist is then
re-evaluated by the caller through the path corrections use. None of these functions commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from config.errors import StorageError
from config.vocabulary import OPEN_CASE_STATUSES
from storage.cases import set_status
from storage.db import storage_errors
from storage.events import add_event
from storage.models import (
    Case,
    CaseAssignment,
    CaseLink,
    CaseMessage,
    CaseNote,
    ChecklistEntry,
    Document,
    ExtractedField,
    Ledger,
    OutgoingMessage,
    utcnow,
)
from storage.sql import attach

MERGED_NOTE = "merged into {ref}"


class WorkspaceError(StorageError):
    """A reviewer's act that cannot be done as asked (merge a case into itself ...)."""


@dataclass(frozen=True)
class CaseFilter:
    """What the queue shows: open cases unless a status is asked for, narrowed further."""

    status: str = ""
    request_type: str = ""
    authority: str = ""
    regulation: str = ""
    assignee: str = ""
    search: str = ""


def _contains(column: ColumnElement[str] | object, text: str) -> ColumnElement[bool]:
    """Return 'column holds text', case-insensitive, with % and _ taken literally."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def _search(text: str) -> ColumnElement[bool]:
    """Return the condition: reference, subject, applicant, sender or a current value match."""
    messages = select(CaseMessage.case_id).where(
        or_(_contains(CaseMessage.sender, text), _contains(CaseMessage.subject, text)))
    values = select(ExtractedField.case_id).where(
        ExtractedField.superseded_by.is_(None), _contains(ExtractedField.value, text))
    return or_(_contains(Case.ref, text), _contains(Case.subject, text),
               _contains(Case.applicant_email, text), Case.id.in_(messages),
               Case.id.in_(values))


@storage_errors
def find_cases(s: Session, wanted: CaseFilter) -> list[Case]:
    """Return the cases a filter selects, oldest first."""
    query = select(Case)
    if wanted.status:
        query = query.where(Case.status == wanted.status)
    else:
        query = query.where(Case.status.in_(OPEN_CASE_STATUSES))
    for column, value in ((Case.request_type, wanted.request_type),
                          (Case.authority, wanted.authority),
                          (Case.regulation, wanted.regulation)):
        if value:
            query = query.where(column == value)
    if wanted.assignee:
        assigned = select(CaseAssignment.case_id).where(
            CaseAssignment.user_name == wanted.assignee)
        query = query.where(Case.id.in_(assigned))
    if wanted.search.strip():
        query = query.where(_search(wanted.search.strip()))
    return list(s.scalars(query.order_by(Case.id)))


@storage_errors
def status_counts(s: Session) -> dict[str, int]:
    """Return the number of cases per status."""
    rows = s.execute(select(Case.status, func.count(Case.id)).group_by(Case.status))
    return {status: int(count) for status, count in rows}


@storage_errors
def completed_at(s: Session, case_ids: Sequence[int]) -> dict[int, datetime]:
    """Return when each complete case became complete: its last required item's change."""
    if not case_ids:
        return {}
    query = (select(ChecklistEntry.case_id, func.max(ChecklistEntry.updated_at))
             .join(Case, Case.id == ChecklistEntry.case_id)
             .where(ChecklistEntry.case_id.in_(case_ids), ChecklistEntry.severity == "required",
                    Case.status == "complete")
             .group_by(ChecklistEntry.case_id))
    return {case_id: at for case_id, at in s.execute(query) if at is not None}


# --- assignment and notes ---------------------------------------------------------------------

@storage_errors
def assignments(s: Session, case_ids: Sequence[int]) -> dict[int, str]:
    """Return the reviewer each of these cases is assigned to."""
    if not case_ids:
        return {}
    query = select(CaseAssignment).where(CaseAssignment.case_id.in_(case_ids))
    return {row.case_id: row.user_name for row in s.scalars(query)}


@storage_errors
def assign(s: Session, case: Case, user_name: str | None, actor: str) -> None:
    """Assign a case to a reviewer (None: to nobody), with an event."""
    row = s.get(CaseAssignment, case.id)
    before = row.user_name if row is not None else None
    if row is not None:
        s.delete(row)
        s.flush()
    if user_name:
        s.add(CaseAssignment(case_id=case.id, user_name=user_name, assigned_at=utcnow(),
                             actor=actor))
    add_event(s, case, actor, "assigned", {"from": before, "to": user_name})
    s.flush()


@storage_errors
def add_note(s: Session, case: Case, author: str, text: str) -> CaseNote:
    """Add an internal note to a case, with an event."""
    if not text.strip():
        raise WorkspaceError("an internal note needs some text")
    note = CaseNote(case_id=case.id, author=author, text=text.strip(), at=utcnow())
    s.add(note)
    s.flush()
    add_event(s, case, author, "note_added", {"note": note.id})
    return note


@storage_errors
def case_notes(s: Session, case: Case) -> list[CaseNote]:
    """Return a case's internal notes, oldest first."""
    return list(s.scalars(select(CaseNote).where(CaseNote.case_id == case.id)
                          .order_by(CaseNote.id)))


# --- links ----------------------------------------------------------------------------------

@storage_errors
def case_links(s: Session, case: Case) -> list[CaseLink]:
    """Return the links of a case that are in force, either direction."""
    query = select(CaseLink).where(or_(CaseLink.case_id == case.id,
                                       CaseLink.other_case_id == case.id),
                                   CaseLink.removed_at.is_(None))
    return list(s.scalars(query.order_by(CaseLink.id)))


def _two_cases(case: Case, other: Case) -> None:
    """Refuse to tie a case to itself."""
    if case.id == other.id:
        raise WorkspaceError(f"{case.ref} cannot be linked or merged with itself")


@storage_errors
def link_related(s: Session, case: Case, other: Case, actor: str) -> CaseLink:
    """Record that two cases are related, with an event on each."""
    _two_cases(case, other)
    link = CaseLink(case_id=case.id, other_case_id=other.id, kind="related", actor=actor,
                    at=utcnow(), detail={})
    s.add(link)
    s.flush()
    add_event(s, case, actor, "case_linked", {"case": other.ref})
    add_event(s, other, actor, "case_linked", {"case": case.ref})
    return link


@storage_errors
def remove_link(s: Session, link: CaseLink, actor: str) -> None:
    """End a 'related' link, with an event on each case (a merge is undone by unmerge)."""
    if link.kind != "related":
        raise WorkspaceError("a merge is undone with 'undo merge', not by removing a link")
    link.removed_at, link.removed_by = utcnow(), actor
    for own, other in ((link.case_id, link.other_case_id), (link.other_case_id, link.case_id)):
        add_event(s, _get(s, own), actor, "case_unlinked", {"case": _get(s, other).ref})
    s.flush()


def _get(s: Session, case_id: int) -> Case:
    """Return a case by id (it exists: a foreign key points at it)."""
    case = s.get(Case, case_id)
    assert case is not None
    return case


# --- moving messages between cases ------------------------------------------------------------

def _ids(s: Session, column: InstrumentedAttribute[int],
         *where: ColumnElement[bool]) -> list[int]:
    """Return the ids a query selects."""
    return [int(i) for i in s.scalars(select(column).where(*where))]


def _moved_rows(s: Session, message_ids: Sequence[int]) -> dict[str, list[int]]:
    """Return the ids of the messages and of every row that belongs to them."""
    return {
        "messages": list(message_ids),
        "documents": _ids(s, Document.id, Document.case_message_id.in_(message_ids)),
        "fields": _ids(s, ExtractedField.id, ExtractedField.case_message_id.in_(message_ids)),
        "ledger": _ids(s, Ledger.id, Ledger.id.in_(
            select(CaseMessage.ledger_id).where(CaseMessage.id.in_(message_ids)))),
        "outgoing": _ids(s, OutgoingMessage.id,
                         OutgoingMessage.case_message_id.in_(message_ids)),
    }


_MOVABLE = {"messages": CaseMessage, "documents": Document, "fields": ExtractedField,
            "ledger": Ledger, "outgoing": OutgoingMessage}


def _untie_chains(s: Session, field_ids: Sequence[int]) -> list[list[int]]:
    """Cut supersede pointers across the moved and the staying values; return what was cut.

    A value superseded by one that leaves (or that leaves while its successor stays) would
    otherwise hide a value on one side; each case keeps its own newest value current.
    """
    moving = set(field_ids)
    crossing = s.execute(select(ExtractedField.id, ExtractedField.superseded_by).where(
        ExtractedField.superseded_by.is_not(None),
        or_(and_(ExtractedField.id.in_(moving), ExtractedField.superseded_by.not_in(moving)),
            and_(ExtractedField.id.not_in(moving), ExtractedField.superseded_by.in_(moving)))))
    cut = [[int(row_id), int(after)] for row_id, after in crossing if after is not None]
    for row_id, _ in cut:
        s.execute(update(ExtractedField).where(ExtractedField.id == row_id)
                  .values(superseded_by=None))
    return cut


def _move(s: Session, rows: dict[str, list[int]], to_case: Case) -> None:
    """Point every listed row at another case."""
    for key, model in _MOVABLE.items():
        if rows.get(key):
            s.execute(update(model).where(model.id.in_(rows[key]))  # type: ignore[attr-defined]
                      .values(case_id=to_case.id))
    attach(s, to_case).updated_at = utcnow()
    s.flush()


def _restore_chains(s: Session, cut: Iterable[Sequence[int]]) -> None:
    """Put back the supersede pointers a move had cut."""
    for row_id, after in cut:
        s.execute(update(ExtractedField).where(ExtractedField.id == row_id)
                  .values(superseded_by=after))


@storage_errors
def merge_cases(s: Session, target: Case, source: Case, actor: str) -> CaseLink:
    """Move every message of source into target and close source as merged; undoable."""
    _two_cases(target, source)
    if source.status == "closed" and any(link.kind == "merged" and link.other_case_id == source.id
                                         for link in case_links(s, source)):
        raise WorkspaceError(f"{source.ref} is already merged into another case")
    messages = _ids(s, CaseMessage.id, CaseMessage.case_id == source.id)
    rows = _moved_rows(s, messages)
    rows["outgoing"] = _ids(s, OutgoingMessage.id, OutgoingMessage.case_id == source.id)
    cut = _untie_chains(s, rows["fields"])
    _move(s, rows, target)
    link = CaseLink(case_id=target.id, other_case_id=source.id, kind="merged", actor=actor,
                    at=utcnow(), detail={**rows, "cut": cut, "status_before": source.status})
    s.add(link)
    s.flush()
    add_event(s, target, actor, "case_merged", {"from": source.ref, "messages": len(messages)})
    set_status(s, source, "closed", actor, MERGED_NOTE.format(ref=target.ref))
    return link


@storage_errors
def unmerge(s: Session, link: CaseLink, actor: str) -> tuple[Case, Case]:
    """Undo a merge: the moved rows go back and the merged case gets its status back."""
    if link.kind != "merged" or link.removed_at is not None:
        raise WorkspaceError("this is not a merge in force")
    target, source = _get(s, link.case_id), _get(s, link.other_case_id)
    detail = link.detail
    _untie_chains(s, detail.get("fields") or [])
    _move(s, {k: list(detail.get(k) or []) for k in _MOVABLE}, source)
    _restore_chains(s, detail.get("cut") or [])
    link.removed_at, link.removed_by = utcnow(), actor
    add_event(s, target, actor, "merge_undone", {"case": source.ref})
    set_status(s, source, str(detail.get("status_before") or "incomplete"), actor,
               f"merge into {target.ref} undone")
    s.flush()
    return target, source


@storage_errors
def move_message(s: Session, message: CaseMessage, target: Case, actor: str) -> Case:
    """Move one filed message (its documents, values, acknowledgements) to another case."""
    origin = _get(s, message.case_id)
    _two_cases(origin, target)
    rows = _moved_rows(s, [message.id])
    cut = _untie_chains(s, rows["fields"])
    _move(s, rows, target)
    detail = {"message_id": message.message_id, "from": origin.ref, "to": target.ref,
              "documents": len(rows["documents"]), "cut": cut}
    add_event(s, origin, actor, "message_moved_out", detail)
    add_event(s, target, actor, "message_moved_in", detail)
    return origin


@storage_errors
def message_by_id(s: Session, case: Case, message_id: int) -> CaseMessage:
    """Return a message filed under this case, or raise WorkspaceError."""
    message = s.get(CaseMessage, message_id)
    if message is None or message.case_id != case.id:
        raise WorkspaceError(f"no message {message_id} in {case.ref}")
    return message


@storage_errors
def document_by_id(s: Session, case: Case, document_id: int) -> Document:
    """Return a document of this case, or raise WorkspaceError."""
    document = s.get(Document, document_id)
    if document is None or document.case_id != case.id:
        raise WorkspaceError(f"no document {document_id} in {case.ref}")
    return document
