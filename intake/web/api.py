"""The read-only JSON API for the agency's other systems: the shapes of `cases export`."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from intake.web.context import Workspace, workspace_of
from intake.web.pages import filter_of
from storage.cases import case_by_ref
from storage.export import case_to_dict
from storage.users import user_by_token
from storage.workspace import find_cases

UNAUTHORISED = {"error": "unauthorised: send Authorization: Bearer <token> "
                         "(derogation-intake users token NAME)"}


def _bearer(ws: Workspace, request: Request) -> bool:
    """Tell whether the request carries the token of an enabled account."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    with ws.database.session() as s:
        return user_by_token(s, token.strip()) is not None


def _refused() -> JSONResponse:
    """Return the 401 answer of a request without a valid token."""
    return JSONResponse(UNAUTHORISED, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="derogation-intake"'})


def _list(ws: Workspace, request: Request) -> list[dict[str, Any]]:
    """Return the cases the query's filters select, as `cases export` writes them."""
    with ws.database.session() as s:
        return [case_to_dict(s, c) for c in find_cases(s, filter_of(request))]


def _one(ws: Workspace, ref: str) -> dict[str, Any] | None:
    """Return one case as `cases export` writes it, or None."""
    with ws.database.session() as s:
        case = case_by_ref(s, ref)
        return case_to_dict(s, case) if case is not None else None


async def api_cases(request: Request) -> Response:
    """GET /api/cases: the open cases (or the status asked for), with the queue's filters."""
    ws = workspace_of(request)
    if not await run_in_threadpool(_bearer, ws, request):
        return _refused()
    return JSONResponse(await run_in_threadpool(_list, ws, request))


async def api_case(request: Request) -> Response:
    """GET /api/cases/{ref}: one case."""
    ws = workspace_of(request)
    if not await run_in_threadpool(_bearer, ws, request):
        return _refused()
    found = await run_in_threadpool(_one, ws, request.path_params["ref"])
    if found is None:
        return JSONResponse({"error": "no such case"}, status_code=404)
    return JSONResponse(found)
