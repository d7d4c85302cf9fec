"""The workspace's pages: the queue of cases and the live case page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from config.extraction_rules import FIELD_KEYS
from config.profiles import load_profile
from config.vocabulary import CaseStatus, Regulation, Role, names
from intake.reviewing import case_url
from intake.web.auth import now_utc, page, refused, render
from intake.web.context import Identity, Workspace, workspace_of
from storage.cases import case_by_ref
from storage.messages import case_documents, case_messages
from storage.models import Case
from storage.reports import OpenCase, case_report_data, queue_records, waiting_for_applicant
from storage.users import list_users
from storage.workspace import (
    CaseFilter,
    assignments,
    case_links,
    case_notes,
    completed_at,
    find_cases,
    status_counts,
)
from triage.deadline import Clock, decision_clock
from triage.reports.case_page import case_sections, status_badges
from triage.reports.digest import queue_order
from triage.reports.html import Html, duration, local_time, words

# What the case page says after an action: fixed texts, never text from the address bar.
DONE = {"field": "The value was recorded and the checklist re-evaluated.",
        "status": "The decision was recorded.", "assigned": "The assignment was recorded.",
        "note": "The note was added.", "merged": "The cases were merged.",
        "unmerged": "The merge was undone.", "linked": "The cases were linked.",
        "unlinked": "The link was removed.", "moved": "The message was moved."}
SORTS = ("queue", "due")


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: the case's record, its reviewer, its clock."""

    case: OpenCase
    assignee: str | None
    waiting: bool
    clock: Clock


def case_path(ref: str) -> str:
    """Return the workspace path of a case."""
    return case_url("", ref)


def filter_of(request: Request) -> CaseFilter:
    """Read the queue's filters from the query string."""
    q = request.query_params
    return CaseFilter(status=q.get("status", ""), request_type=q.get("request_type", ""),
                      authority=q.get("authority", ""), regulation=q.get("regulation", ""),
                      assignee=q.get("assignee", ""), search=q.get("q", "")[:200])


def clocks(ws: Workspace, s: Session, cases: Sequence[Case], now: datetime) -> dict[int, Clock]:
    """Return the decision clock of each case."""
    done = completed_at(s, [c.id for c in cases])
    web = ws.settings.web
    return {c.id: decision_clock(c.status, done.get(c.id), web.decision_days_of(c.authority),
                                 now) for c in cases}


def _sorted(rows: list[QueueRow], sort: str) -> list[QueueRow]:
    """Order the queue: urgent first then oldest, or by due date (no due date last)."""
    order = {id(r.case): i for i, r in enumerate(rows)}
    data = queue_order([{**r.case.__dict__, "key": id(r.case)} for r in rows])
    by_key = {id(r.case): r for r in rows}
    rows = [by_key[int(d["key"])] for d in data]
    if sort == "due":
        rows.sort(key=lambda r: (r.clock.due is None, r.clock.due or now_utc(),
                                 order[id(r.case)]))
    return rows


def _choices(ws: Workspace, s: Session) -> dict[str, Any]:
    """Return the values each queue filter offers."""
    profiles = sorted({m.profile for m in ws.settings.mailboxes} | {"famhp"})
    folder = ws.settings.general.profiles_dir
    types = sorted({t for p in profiles for t in load_profile(p, folder).triage.checklists})
    reviewers = [u.name for u in list_users(s) if u.role != Role.VIEWER and not u.disabled]
    return {"statuses": names(CaseStatus), "request_types": types, "authorities": profiles,
            "regulations": names(Regulation), "reviewers": reviewers, "sorts": SORTS}


def queue_context(ws: Workspace, wanted: CaseFilter, waiting_only: bool,
                  sort: str) -> dict[str, Any]:
    """Gather the queue page: the selected cases in order, counts per status, filters."""
    now = now_utc()
    with ws.database.session() as s:
        cases = find_cases(s, wanted)
        waiting = {w.ref for w in waiting_for_applicant(s, now)}
        if waiting_only:
            cases = [c for c in cases if c.ref in waiting]
        assigned = assignments(s, [c.id for c in cases])
        clock = clocks(ws, s, cases, now)
        records = queue_records(s, cases, now)
        rows = [QueueRow(r, assigned.get(c.id), c.ref in waiting, clock[c.id])
                for c, r in zip(cases, records, strict=True)]
        return {"rows": _sorted(rows, sort), "counts": status_counts(s),
                "choices": _choices(ws, s), "filter": wanted, "waiting_only": waiting_only,
                "sort": sort, "now": now, "tz": ws.settings.general.timezone}


@page(Role.VIEWER)
async def queue(request: Request, who: Identity) -> Response:
    """The queue: open cases (or a status), urgent first then oldest, filters and search."""
    ws = workspace_of(request)
    sort = request.query_params.get("sort", "queue")
    context = await run_in_threadpool(
        queue_context, ws, filter_of(request), request.query_params.get("waiting") == "1",
        sort if sort in SORTS else "queue")
    return render(request, who, "queue.html.j2", case_path=case_path, words=words,
                  duration=duration, local_time=local_time, **context)


# --- the case page ----------------------------------------------------------------------------

def _with_links(data: dict[str, Any], s: Session, case: Case) -> dict[str, Any]:
    """Add the download addresses of documents, messages and each value's document."""
    base = case_path(case.ref)
    documents = case_documents(s, case)
    by_sha = {d.sha256: f"{base}/documents/{d.id}" for d in documents}
    for document, entry in zip(documents, data["documents"], strict=True):
        entry["href"] = f"{base}/documents/{document.id}"
    for message, entry in zip(case_messages(s, case), data["messages"], strict=True):
        entry["id"] = message.id
        entry["href"] = f"{base}/messages/{message.id}/original" if message.ledger_id else None
    for entry in data["field_history"]:
        sha = (entry.get("source") or {}).get("sha256")
        entry["document_href"] = by_sha.get(sha) if sha else None
    return data


def case_context(ws: Workspace, ref: str) -> dict[str, Any] | None:
    """Gather everything the case page shows, or None when there is no such case."""
    now = now_utc()
    with ws.database.session() as s:
        case = case_by_ref(s, ref)
        if case is None:
            return None
        data = _with_links(case_report_data(s, case, now), s, case)
        data["timezone"] = ws.settings.general.timezone
        others = {c.id: c.ref for c in find_cases(s, CaseFilter())}
        links = [{"id": link.id, "kind": link.kind, "actor": link.actor, "at": link.at,
                  "merged_here": link.kind == "merged" and link.case_id == case.id,
                  "other": _other_ref(s, link.other_case_id if link.case_id == case.id
                                      else link.case_id)}
                 for link in case_links(s, case)]
        return {
            "case": data, "ref": case.ref, "sections": as_markup(case_sections(data)),
            "badges": as_markup(status_badges(data)),
            "clock": clocks(ws, s, [case], now)[case.id],
            "assignee": assignments(s, [case.id]).get(case.id),
            "notes": case_notes(s, case), "links": links,
            "field_keys": FIELD_KEYS, "statuses": names(CaseStatus),
            "reviewers": _choices(ws, s)["reviewers"],
            "other_cases": [r for i, r in others.items() if i != case.id],
            "tz": ws.settings.general.timezone, "local_time": local_time, "words": words,
            "case_path": case_path(case.ref), "path_of": case_path,
        }


def as_markup(parts: Sequence[Html]) -> Markup:
    """Hand the report's markup to Jinja: Html is escaped as it is built (reports.html)."""
    return Markup("".join(parts))  # noqa: S704 - every value inside was escaped by tag()


def _other_ref(s: Session, case_id: int) -> str:
    """Return the reference of a case by id."""
    other = s.get(Case, case_id)
    return other.ref if other is not None else "?"


@page(Role.VIEWER)
async def case_page(request: Request, who: Identity) -> Response:
    """The case: its state and history as the case report shows it, live, with actions."""
    ref = request.path_params["ref"]
    context = await run_in_threadpool(case_context, workspace_of(request), ref)
    if context is None:
        return refused(request, who, 404, f"There is no case {ref}.")
    done = DONE.get(request.query_params.get("done", ""), "")
    return render(request, who, "case.html.j2", message=done, quote=quote, **context)
