"""Every route of the workspace as an anonymous visitor, a viewer, a reviewer and an API client,
over `derogation-intake serve` in its own process and a database the pipeline filled."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from intake.web.app import CONTENT_SECURITY_POLICY, ROUTES
from tests.intake.web.workspace import Running, cli, csrf_of, logged_in, running_workspace
from tests.triage.test_reports import HOSTILE_FILENAME, HOSTILE_SUBJECT, Node, parse_html

PUBLIC = {"/login", "/static/{name}", "/favicon.ico"}
HOSTILE_VALUE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


@pytest.fixture(scope="module", params=[pytest.param("sqlite", id="sqlite")])
def running(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The workspace served over a filed SQLite database."""
    yield from running_workspace(request, tmp_path_factory.mktemp("routes"))


def every_route(running: Running) -> list[tuple[str, str]]:
    """Return (method, path) of every route, its parameters filled with real values."""
    docs, msgs = running.ids(running.first)
    values = {"ref": running.first, "document": str(docs[0]), "message": str(msgs[0]),
              "name": "workspace.css"}
    return [(method, re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.path))
            for route in ROUTES for method in sorted(route.methods or ()) if method != "HEAD"
            if route.path not in PUBLIC]


def anonymous(running: Running) -> httpx.Client:
    """Return a client with no session."""
    return httpx.Client(base_url=running.base, follow_redirects=False, timeout=60)


def export_of(running: Running, ref: str) -> dict[str, object]:
    """Return a case as the API gives it."""
    answer = anonymous(running).get(f"/api/cases/{ref}",
                                    headers={"Authorization": f"Bearer {running.token}"})
    assert answer.status_code == 200
    found: dict[str, object] = answer.json()
    return found


def test_anonymous_requests_go_to_the_login_page_or_get_401(running: Running) -> None:
    client = anonymous(running)
    routes = every_route(running)
    assert len(routes) >= 15
    for method, path in routes:
        answer = client.request(method, path, data={"csrf": "x"} if method == "POST" else None)
        if path.startswith("/api/"):
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith("Bearer")
        else:
            assert answer.status_code == 303, (method, path)
            assert answer.headers["location"].startswith("/login?next="), path
        assert running.first not in answer.text or path.startswith("/api/") is False


def test_a_viewer_reads_every_page_and_can_change_nothing(running: Running) -> None:
    viewer = logged_in(running, "vic")
    token = csrf_of(viewer.get("/").text)
    before = export_of(running, running.first)
    for method, path in every_route(running):
        if path.startswith("/api/") or path == "/logout":
            continue
        form = {"csrf": token, "field": "quantity", "value": "9", "status": "refused",
                "note": "no", "text": "note", "other": running.second, "to": running.second}
        answer = viewer.request(method, path, data=form if method == "POST" else None)
        expected = 403 if method == "POST" or path == "/audit" else 200
        assert answer.status_code == expected, (method, path, answer.status_code)
    assert export_of(running, running.first) == before


def test_a_reviewer_may_act_but_not_read_the_audit_or_post_without_the_token(
        running: Running) -> None:
    reviewer = logged_in(running, "ann")
    assert reviewer.get("/audit").status_code == 403
    before = export_of(running, running.hostile)
    forged = reviewer.post(f"/cases/{running.hostile}/notes", data={"text": "forged"})
    assert forged.status_code == 403
    wrong = reviewer.post(f"/cases/{running.hostile}/notes", data={"text": "forged",
                                                                   "csrf": "0" * 64})
    assert wrong.status_code == 403
    assert export_of(running, running.hostile) == before
    token = csrf_of(reviewer.get(f"/cases/{running.hostile}").text)
    done = reviewer.post(f"/cases/{running.hostile}/notes", data={"text": "checked",
                                                                  "csrf": token})
    assert done.status_code == 303
    events = export_of(running, running.hostile)["events"]
    assert isinstance(events, list)
    assert events[-1]["actor"] == "ann" and events[-1]["action"] == "note_added"


def assert_inert(dom: Node) -> None:
    """Check nothing on a workspace page can run or load from elsewhere."""
    tags = {n.tag for n in dom.iter()}
    assert not tags & {"script", "img", "iframe", "object", "embed", "svg", "base"}
    for node in dom.iter():
        for name, value in node.attrs.items():
            assert not name.startswith("on"), (node.tag, name, value)
            if name in ("href", "src", "action"):
                assert value.startswith(("/", "#")) and not value.startswith("//"), value


def test_hostile_subject_file_name_and_values_stay_text_on_every_page(running: Running) -> None:
    reviewer = logged_in(running, "ann")
    case = f"/cases/{running.hostile}"
    token = csrf_of(reviewer.get(case).text)
    for path, form in ((f"{case}/fields", {"field": "device_model", "value": HOSTILE_VALUE}),
                       (f"{case}/notes", {"text": HOSTILE_VALUE})):
        assert reviewer.post(path, data={**form, "csrf": token}).status_code == 303
    admin = logged_in(running, "ada")
    pages = {"/": admin.get("/"), case: admin.get(case), "/audit": admin.get("/audit"),
             "search": admin.get("/", params={"q": HOSTILE_VALUE}),
             "missing": admin.get("/cases/" + HOSTILE_VALUE)}
    for name, answer in pages.items():
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, name
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert_inert(parse_html(answer.text))
    text = pages[case].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert HOSTILE_SUBJECT.split(" Compassionate")[0] not in text
    assert parse_html(text).text().count(HOSTILE_VALUE) >= 2  # the value and the note
    docs, _ = running.ids(running.hostile)
    download = admin.get(f"{case}/documents/{docs[0]}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert '"' not in download.headers["content-disposition"].split('filename="')[1][:-1] \
        .split('"; filename*=')[0]
    assert HOSTILE_FILENAME not in download.headers["content-disposition"]


def test_the_original_message_downloads_as_received(running: Running) -> None:
    viewer = logged_in(running, "vic")
    _, msgs = running.ids(running.first)
    answer = viewer.get(f"/cases/{running.first}/messages/{msgs[0]}/original")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert b"b7e1d3f0a9c84e21@neurovasc-dynamics.de" in answer.content


def test_the_api_answers_with_the_shapes_of_cases_export(running: Running,
                                                         tmp_path: Path) -> None:
    exported = cli(running.config, "cases", "export", "--output", str(tmp_path / "all.json"))
    assert exported.returncode == 0, exported.stderr

    by_ref = {c["ref"]: c for c in json.loads((tmp_path / "all.json").read_text("utf-8"))}
    client = anonymous(running)
    bearer = {"Authorization": f"Bearer {running.token}"}
    listed = client.get("/api/cases", headers=bearer, params={"q": "FlowGuard"}).json()
    assert [c["ref"] for c in listed] == [running.first]
    assert set(listed[0]) == set(by_ref[running.first])
    one = client.get(f"/api/cases/{running.second}", headers=bearer).json()
    assert one["documents"] == by_ref[running.second]["documents"]
    assert client.get("/api/cases", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/cases/NOPE-1", headers=bearer).status_code == 404


def test_login_refuses_an_outside_next_and_pauses_after_failures(running: Running) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client = anonymous(running)
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"name": "ada", "password": "ada's long passphrase",
                                             "csrf": token, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == "/", target
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    guesser = anonymous(running)
    codes = []
    for _ in range(4):
        token = csrf_of(guesser.get("/login").text)
        codes.append(guesser.post("/login", data={"name": "vic", "password": "wrong guess",
                                                  "csrf": token}).status_code)
    assert codes == [401, 401, 401, 429]
    token = csrf_of(guesser.get("/login").text)
    right = guesser.post("/login", data={"name": "vic", "password": "vic's long passphrase",
                                         "csrf": token})
    assert right.status_code == 429  # paused, even with the right password
    audit = logged_in(running, "ada").get("/audit").text
    assert "login_failed" in audit and "login_throttled" in audit


def test_a_disabled_account_loses_its_session_and_token(running: Running) -> None:
    client = logged_in(running, "ann")
    assert client.get("/").status_code == 200
    assert cli(running.config, "users", "disable", "ann").returncode == 0
    assert client.get("/").status_code == 303
    answer = anonymous(running).get("/api/cases",
                                    headers={"Authorization": f"Bearer {running.token}"})
    assert answer.status_code == 401
    listed = cli(running.config, "users", "list").stdout
    assert re.search(r"^ann\treviewer\tdisabled", listed, re.MULTILINE)
