"""Who is asking: session cookies, the optional SSO header, CSRF tokens, role guards, login.

A session cookie holds a random token whose hash is a row in the database (so a logout or a
disabled account ends it at once, in every process). Forms carry a CSRF token: an HMAC of the
session (or, before login, of a random cookie) under the workspace's secret key.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from config.vocabulary import Role
from intake.web.context import Identity, Workspace, workspace_of
from storage.users import (
    add_audit,
    end_session,
    failed_logins_since,
    record_login_attempt,
    session_user,
    start_session,
    user_by_name,
)

log = logging.getLogger(__name__)

SESSION_COOKIE = "di_session"
LOGIN_COOKIE = "di_login"
CSRF_FIELD = "csrf"
ADDRESS_FACTOR = 5
HASHER = PasswordHasher()
# Verified against when the account does not exist, so that both cases take as long.
_DUMMY_HASH = HASHER.hash(secrets.token_hex(16))

PageHandler = Callable[[Request, Identity], Awaitable[Response]]
ActionHandler = Callable[[Request, Identity, FormData], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def hash_password(password: str) -> str:
    """Return the Argon2 hash of a password."""
    return HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Tell whether a password matches a stored Argon2 hash (in constant-ish time)."""
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def now_utc() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


# --- where the request comes from ---------------------------------------------------------------

def _peer(request: Request) -> str:
    """Return the address of the connection's other end."""
    return request.client.host if request.client is not None else ""


def _from_proxy(request: Request) -> bool:
    """Tell whether the connection comes from a trusted proxy."""
    return _peer(request) in workspace_of(request).settings.web.trusted_proxies


def client_address(request: Request) -> str:
    """Return the client's address: the proxy's X-Forwarded-For when it is trusted."""
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded and _from_proxy(request):
        return forwarded.split(",")[-1].strip()
    return _peer(request)


def behind_tls(request: Request) -> bool:
    """Tell whether the browser talks HTTPS to us (directly or through a trusted proxy)."""
    web = workspace_of(request).settings.web
    proxied = _from_proxy(request) and request.headers.get("x-forwarded-proto") == "https"
    return request.url.scheme == "https" or proxied or web.public_base_url.startswith("https:")


# --- identity ---------------------------------------------------------------------------------

def _trusted_header_identity(ws: Workspace, request: Request) -> Identity | None:
    """Return the account an SSO proxy names, when that mode is on and the proxy trusted."""
    header = ws.settings.web.trusted_header
    name = request.headers.get(header, "").strip() if header else ""
    if not name or not _from_proxy(request):
        return None
    with ws.database.session() as s:
        user = user_by_name(s, name)
        if user is None or user.disabled:
            return None
        return Identity(user.name, Role(user.role))


def identity(request: Request) -> Identity | None:
    """Return the logged-in account of a request (looked up once per request), or None."""
    if "identity" in request.state._state:
        found: Identity | None = request.state.identity
        return found
    ws = workspace_of(request)
    who = _trusted_header_identity(ws, request)
    token = request.cookies.get(SESSION_COOKIE)
    if who is None and token:
        with ws.database.session() as s:
            user = session_user(s, token, now_utc())
            who = Identity(user.name, Role(user.role)) if user is not None else None
    request.state.identity = who
    return who


# --- CSRF -------------------------------------------------------------------------------------

def _csrf_basis(request: Request) -> str:
    """Return what the CSRF token is bound to: the session, else a pre-login cookie."""
    basis = request.cookies.get(SESSION_COOKIE) or request.cookies.get(LOGIN_COOKIE)
    if basis:
        return basis
    if "new_login_cookie" not in request.state._state:
        request.state.new_login_cookie = secrets.token_urlsafe(32)
    fresh: str = request.state.new_login_cookie
    return fresh


def csrf_token(request: Request) -> str:
    """Return the CSRF token the request's forms must send back."""
    basis = _csrf_basis(request).encode("utf-8")
    return hmac.new(workspace_of(request).key, b"csrf:" + basis, "sha256").hexdigest()


def csrf_ok(request: Request, form: FormData) -> bool:
    """Tell whether a form carries the right CSRF token."""
    sent = form.get(CSRF_FIELD)
    return isinstance(sent, str) and hmac.compare_digest(sent, csrf_token(request))


def set_cookie(request: Request, response: Response, name: str, value: str,
               max_age: int | None = None) -> None:
    """Set one of our cookies: HttpOnly, SameSite=Lax, Secure behind TLS."""
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=behind_tls(request), path="/")


# --- rendering and guards ---------------------------------------------------------------------

def render(request: Request, who: Identity | None, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """Render a page with the account, the CSRF token and the settings' time zone."""
    ws = workspace_of(request)
    html = ws.templates.get_template(template).render(
        user=who, csrf=csrf_token(request), may_review=who is not None and who.may(
            Role.REVIEWER), is_admin=who is not None and who.may(Role.ADMINISTRATOR),
        **context)
    response = HTMLResponse(html, status_code=status_code)
    if "new_login_cookie" in request.state._state:
        set_cookie(request, response, LOGIN_COOKIE, request.state.new_login_cookie)
    return response


def refused(request: Request, who: Identity | None, status_code: int,
            message: str) -> HTMLResponse:
    """Return an error page (403, 404, 400 ...) saying what went wrong."""
    return render(request, who, "error.html.j2", status_code=status_code, message=message)


def login_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the login page, remembering where they were going."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def page(role: Role) -> Callable[[PageHandler], Endpoint]:
    """Guard a page: anonymous visitors go to the login page, lesser roles get 403."""
    def wrap(handler: PageHandler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            who = await run_in_threadpool(identity, request)
            if who is None:
                return login_redirect(request)
            if not who.may(role):
                return refused(request, who, 403, f"This page needs the {role} role.")
            return await handler(request, who)
        endpoint.__doc__ = handler.__doc__
        return endpoint
    return wrap


def action(role: Role) -> Callable[[ActionHandler], Endpoint]:
    """Guard a form post: logged in, the role, then the CSRF token; the handler runs off-loop."""
    def wrap(handler: ActionHandler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            who = await run_in_threadpool(identity, request)
            if who is None:
                return login_redirect(request)
            if not who.may(role):
                return refused(request, who, 403, f"This needs the {role} role.")
            form = await request.form()
            if not csrf_ok(request, form):
                return refused(request, who, 403, "The form has expired: reload the page.")
            return await run_in_threadpool(handler, request, who, form)
        endpoint.__doc__ = handler.__doc__
        return endpoint
    return wrap


# --- login and logout -------------------------------------------------------------------------

def safe_next(target: str | None) -> str:
    """Return a local path to go to after login; anything else (another site) becomes '/'."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    return target


async def login_page(request: Request) -> Response:
    """Show the login form (or go on when already logged in)."""
    target = safe_next(request.query_params.get("next"))
    if await run_in_threadpool(identity, request) is not None:
        return RedirectResponse(target, status_code=303)
    return render(request, None, "login.html.j2", next=target, error="")


def _throttled(ws: Workspace, name: str, address: str) -> bool:
    """Tell whether too many logins failed lately for this name or from this address."""
    web = ws.settings.web
    since = now_utc() - timedelta(minutes=web.login_window_minutes)
    with ws.database.session() as s:
        by_name, by_address = failed_logins_since(s, name, address, since)
    # One address may be a whole office behind a proxy: it gets more tries than one name.
    return by_name >= web.login_attempts or by_address >= web.login_attempts * ADDRESS_FACTOR


def _log_in(ws: Workspace, name: str, password: str, address: str) -> tuple[str, str | None]:
    """Check a login; return (outcome, session cookie value when it succeeded)."""
    if _throttled(ws, name, address):
        with ws.database.session() as s:
            add_audit(s, name, "login_throttled", address, {})
        return "throttled", None
    with ws.database.session() as s:
        user = user_by_name(s, name)
        good = verify_password(user.password_hash if user else None, password)
        if user is None or user.disabled or not good:
            record_login_attempt(s, name, address, False)
            add_audit(s, name, "login_failed", address,
                      {"reason": "disabled" if user is not None and good else "bad credentials"})
            return "failed", None
        record_login_attempt(s, name, address, True)
        lifetime = timedelta(hours=ws.settings.web.session_hours)
        token = start_session(s, user, address, lifetime)
        add_audit(s, name, "login", address, {})
        return "ok", token


async def login_submit(request: Request) -> Response:
    """Log in with a name and a password; too many failures pause further attempts."""
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    if not csrf_ok(request, form):
        return render(request, None, "login.html.j2", status_code=403, next=target,
                      error="The form has expired: please try again.")
    ws = workspace_of(request)
    name, password = str(form.get("name") or "").strip(), str(form.get("password") or "")
    outcome, token = await run_in_threadpool(_log_in, ws, name, password,
                                             client_address(request))
    if outcome == "throttled":
        return render(request, None, "login.html.j2", status_code=429, next=target,
                      error="Too many failed attempts: wait a few minutes and try again.")
    if token is None:
        return render(request, None, "login.html.j2", status_code=401, next=target,
                      error="Wrong name or password.")
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token,
               max_age=ws.settings.web.session_hours * 3600)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@action(Role.VIEWER)
def logout(request: Request, who: Identity, form: FormData) -> Response:
    """End the session and go back to the login page."""
    ws = workspace_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    with ws.database.session() as s:
        if token:
            end_session(s, token)
        add_audit(s, who.name, "logout", client_address(request), {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
