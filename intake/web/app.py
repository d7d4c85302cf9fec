"""The workspace application: its routes and the security headers every answer carries."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.vocabulary import Role
from intake.web import actions, api, files, pages
from intake.web.auth import login_page, login_submit, logout, page, render
from intake.web.context import STATIC, Identity, Workspace, workspace_of
from storage.users import audit_entries
from triage.reports.styles import CSS

# Nothing runs and nothing loads from elsewhere: our stylesheets, our forms, no frames.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware adding the security headers (and no caching of pages) to answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


async def stylesheet(request: Request) -> Response:
    """The stylesheets: the case report's and the workspace's own (public: the login uses them)."""
    name = request.path_params["name"]
    if name == "report.css":
        text = CSS
    elif name == "workspace.css":
        text = (STATIC / "workspace.css").read_text(encoding="utf-8")
    else:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(text, media_type="text/css", headers={"Cache-Control": "max-age=300"})


async def no_icon(request: Request) -> Response:
    """Answer the browser's favicon request with no content (there is no icon)."""
    return Response(status_code=204)


@page(Role.ADMINISTRATOR)
async def audit(request: Request, who: Identity) -> Response:
    """The workspace's audit trail: logins, failed logins, logouts (administrators)."""
    ws = workspace_of(request)

    def entries() -> list[dict[str, object]]:
        with ws.database.session() as s:
            return [{"at": e.at, "actor": e.actor, "action": e.action, "address": e.address,
                     "detail": e.detail} for e in audit_entries(s)]

    return render(request, who, "audit.html.j2", entries=await run_in_threadpool(entries),
                  tz=ws.settings.general.timezone)


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/static/{name}", stylesheet, methods=["GET"]),
    Route("/favicon.ico", no_icon, methods=["GET"]),
    Route("/", pages.queue, methods=["GET"]),
    Route("/audit", audit, methods=["GET"]),
    Route("/cases/{ref}", pages.case_page, methods=["GET"]),
    Route("/cases/{ref}/documents/{document}", files.download_document, methods=["GET"]),
    Route("/cases/{ref}/messages/{message}/original", files.download_message, methods=["GET"]),
    Route("/cases/{ref}/fields", actions.correct, methods=["POST"]),
    Route("/cases/{ref}/status", actions.decide, methods=["POST"]),
    Route("/cases/{ref}/assign", actions.assign_case, methods=["POST"]),
    Route("/cases/{ref}/notes", actions.note, methods=["POST"]),
    Route("/cases/{ref}/merge", actions.merge, methods=["POST"]),
    Route("/cases/{ref}/links", actions.link, methods=["POST"]),
    Route("/cases/{ref}/links/remove", actions.unlink, methods=["POST"]),
    Route("/cases/{ref}/messages/move", actions.move, methods=["POST"]),
    Route("/api/cases", api.api_cases, methods=["GET"]),
    Route("/api/cases/{ref}", api.api_case, methods=["GET"]),
]


def create_app(workspace: Workspace) -> Starlette:
    """Return the workspace application over an opened workspace."""
    app = Starlette(routes=ROUTES)
    app.state.workspace = workspace
    app.add_middleware(SecurityHeaders)
    return app
