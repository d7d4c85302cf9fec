"""What reviewers change from the case page: each a form post, recorded under their name.

Corrections and decisions go through the same functions as `cases set` and `cases status`;
merges and moves through storage.workspace, then the checklist is re-evaluated as after a
correction. A refused change shows why and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from config.errors import IntakeError
from config.vocabulary import Role
from intake.reviewing import correct_field, merge_into, recheck_case, record_decision
from intake.web.auth import action, refused
from intake.web.context import Identity, workspace_of
from intake.web.pages import case_path
from storage.cases import case_by_ref
from storage.models import Case, CaseLink
from storage.users import user_by_name
from storage.workspace import (
    WorkspaceError,
    add_note,
    assign,
    link_related,
    message_by_id,
    move_message,
    remove_link,
    unmerge,
)

Change = Callable[[Session, Case, FormData, str, Path], tuple[str, str]]


def _text(form: FormData, name: str) -> str:
    """Return a form field as stripped text ('' when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _case(s: Session, ref: str) -> Case:
    """Return a case by reference, or raise WorkspaceError."""
    case = case_by_ref(s, ref)
    if case is None:
        raise WorkspaceError(f"there is no case {ref}")
    return case


def _apply(request: Request, who: Identity, form: FormData, change: Change) -> Response:
    """Run one change in one transaction; go back to the case page (the one it names)."""
    ws = workspace_of(request)
    try:
        with ws.database.session() as s:
            case = _case(s, request.path_params["ref"])
            ref, done = change(s, case, form, who.name, ws.settings.general.profiles_dir)
    except IntakeError as exc:
        return refused(request, who, 400, f"Nothing was changed: {exc}")
    return RedirectResponse(f"{case_path(ref)}?done={done}#workspace", status_code=303)


def _correct(s: Session, case: Case, form: FormData, actor: str,
             folder: Path) -> tuple[str, str]:
    """Record a reviewer's value for a field."""
    correct_field(s, case, _text(form, "field"), _text(form, "value"), actor, folder)
    return case.ref, "field"


def _decide(s: Session, case: Case, form: FormData, actor: str,
            folder: Path) -> tuple[str, str]:
    """Record a decision (granted, refused, withdrawn, closed, incomplete ...) with its reason."""
    record_decision(s, case, _text(form, "status"), _text(form, "note"), actor, folder)
    return case.ref, "status"


def _assign(s: Session, case: Case, form: FormData, actor: str,
            folder: Path) -> tuple[str, str]:
    """Assign the case to a reviewer, or to nobody."""
    name = _text(form, "reviewer")
    user = user_by_name(s, name) if name else None
    if name and (user is None or user.disabled or user.role == Role.VIEWER):
        raise WorkspaceError(f"{name!r} is not a reviewer's account")
    assign(s, case, name or None, actor)
    return case.ref, "assigned"


def _note(s: Session, case: Case, form: FormData, actor: str,
          folder: Path) -> tuple[str, str]:
    """Add an internal note."""
    add_note(s, case, actor, _text(form, "text"))
    return case.ref, "note"


def _merge(s: Session, case: Case, form: FormData, actor: str,
           folder: Path) -> tuple[str, str]:
    """Merge another case into this one and re-evaluate this one's checklist."""
    merge_into(s, case, _case(s, _text(form, "other")), actor, folder)
    return case.ref, "merged"


def _link(s: Session, case: Case, form: FormData, actor: str,
          folder: Path) -> tuple[str, str]:
    """Record that another case is related to this one."""
    link_related(s, case, _case(s, _text(form, "other")), actor)
    return case.ref, "linked"


def _unlink(s: Session, case: Case, form: FormData, actor: str,
            folder: Path) -> tuple[str, str]:
    """Remove a 'related' link, or undo a merge (both cases' checklists re-evaluated)."""
    link = s.get(CaseLink, int(_text(form, "link") or 0))
    if link is None or case.id not in (link.case_id, link.other_case_id):
        raise WorkspaceError(f"no such link on {case.ref}")
    if link.kind == "related":
        remove_link(s, link, actor)
        return case.ref, "unlinked"
    target, source = unmerge(s, link, actor)
    for each in (target, source):
        recheck_case(s, each, actor, "checklist re-evaluated after a merge was undone", folder)
    return case.ref, "unmerged"


def _move(s: Session, case: Case, form: FormData, actor: str,
          folder: Path) -> tuple[str, str]:
    """Move one message of this case to another; both checklists are re-evaluated."""
    message = message_by_id(s, case, int(_text(form, "message") or 0))
    target = _case(s, _text(form, "to"))
    move_message(s, message, target, actor)
    for each in (case, target):
        recheck_case(s, each, actor, "checklist re-evaluated after a message was moved",
                     folder)
    return case.ref, "moved"


@action(Role.REVIEWER)
def correct(request: Request, who: Identity, form: FormData) -> Response:
    """Correct a field."""
    return _apply(request, who, form, _correct)


@action(Role.REVIEWER)
def decide(request: Request, who: Identity, form: FormData) -> Response:
    """Record a decision."""
    return _apply(request, who, form, _decide)


@action(Role.REVIEWER)
def assign_case(request: Request, who: Identity, form: FormData) -> Response:
    """Assign the case."""
    return _apply(request, who, form, _assign)


@action(Role.REVIEWER)
def note(request: Request, who: Identity, form: FormData) -> Response:
    """Add an internal note."""
    return _apply(request, who, form, _note)


@action(Role.REVIEWER)
def merge(request: Request, who: Identity, form: FormData) -> Response:
    """Merge another case into this one."""
    return _apply(request, who, form, _merge)


@action(Role.REVIEWER)
def link(request: Request, who: Identity, form: FormData) -> Response:
    """Link a related case."""
    return _apply(request, who, form, _link)


@action(Role.REVIEWER)
def unlink(request: Request, who: Identity, form: FormData) -> Response:
    """Remove a link or undo a merge."""
    return _apply(request, who, form, _unlink)


@action(Role.REVIEWER)
def move(request: Request, who: Identity, form: FormData) -> Response:
    """Move a message to another case."""
    return _apply(request, who, form, _move)
