"""The reviewers' reports, read the way a reviewer reads them, over really filed messages.

The labelled message set (tests/fixtures/messages) goes through the real pipeline into a real
database (SQLite and PostgreSQL), with a hostile message and an unreadable one beside it; the
case pages and the digest are rendered and read back with html.parser.
"""

from __future__ import annotations

import argparse
import email
import json
import mailbox
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from config.settings import Settings, load_settings
from config.vocabulary import OPEN_CASE_STATUSES
from intake.commands.cli import build_parser
from intake.commands.review import (
    case_page,
    cmd_cases_set,
    cmd_cases_status,
    cmd_report,
    digest,
    digest_job,
)
from intake.mailbox.maildir import store_message
from intake.pipeline import poll_mailbox
from intake.replies.outbox import drain_outbox
from intake.reviewing import merge_into
from intake.runtime import Runtime, open_runtime
from storage.blobs import BlobStore
from storage.cases import case_by_ref, case_checklist, list_cases
from storage.db import Database
from storage.export import case_to_dict
from storage.messages import case_documents, case_messages
from storage.models import CaseMessage, CaseSequence
from storage.reports import case_report_data
from tests.dbs import BACKENDS, PostgresServer
from triage.reports.case_page import case_to_html
from triage.reports.digest import digest_to_html, digest_to_text, queue_order
from triage.reports.html import STATUS_MARKS

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = ROOT / "tests" / "fixtures" / "messages"
FORMS = ROOT / "tests" / "fixtures" / "forms"
TIMEZONE = "Europe/Brussels"
# Refs of the labelled set are written for 2026; the format pins the year so that the
# follow-ups' cited references match whatever year the tests run in.
REF_FORMAT = "{prefix}-2026-{seq:06d}"
# New cases without a cited reference are numbered from here: clear of every cited one.
FIRST_FREE_SEQ = 200

HOSTILE_SUBJECT = "<script>alert(1)</script> Compassionate Use – UZ Leuven – J.D."
HOSTILE_FILENAME = '"><img src=x onerror=alert(1)>.pdf'
HOSTILE_BODY = "Device name: <b onmouseover=alert(2)>CardioFlow</b>\nRegulation: MDR\n"
# Relays as the hostile request names them: the oldest, written by the sender, attacks the page
# and is dated on a Tuesday that was a Monday.
HOSTILE_RELAY = "<script>alert(3)</script>.evil.example"
HOSTILE_RECEIVED = (
    "from relay.evil.example (relay.evil.example [192.0.2.66]) by mx1.fagg-afmps.be with "
    "ESMTPS id 7H; Mon, 02 Mar 2026 09:05:00 +0100",
    f"from {HOSTILE_RELAY} ([10.9.8.7]) by relay.evil.example with ESMTPA id 3Q; "
    "Tue, 02 Mar 2026 09:01:00 +0100")
JUNK = bytes(range(256)) * 8  # neither headers nor text: intake cannot read it


# --- a small DOM over html.parser -------------------------------------------------------------

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr", "area", "base"}


@dataclass
class Node:
    """One element of a parsed page."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str]

    def text(self) -> str:
        """Return the element's text, whitespace collapsed."""
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else f" {child.text()} ")
        return " ".join("".join(parts).split())

    def iter(self) -> Iterator[Node]:
        """Yield this element and every element below it."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, class_: str | None = None) -> list[Node]:
        """Return the elements below with a tag and/or a class."""
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and (class_ is None or class_ in n.attrs.get("class", "").split())]

    def by_id(self, anchor: str) -> Node:
        """Return the element with an id."""
        found = [n for n in self.iter() if n.attrs.get("id") == anchor]
        assert found, f"no element #{anchor}"
        return found[0]


class _Builder(HTMLParser):
    """Builds Nodes from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, [])
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, [])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    """Parse a page into Nodes."""
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root


def rows(table: Node) -> list[list[str]]:
    """Return the body rows of a table as lists of cell texts."""
    body = table.find_all("tbody")
    return [[cell.text() for cell in row.children if isinstance(cell, Node)]
            for row in (body[0].find_all("tr") if body else [])]


def section_table(dom: Node, anchor: str) -> Node:
    """Return the table of a page section."""
    tables = dom.by_id(anchor).find_all("table")
    assert tables, f"section #{anchor} has no table: {dom.by_id(anchor).text()[:200]}"
    return tables[0]


def section_rows(dom: Node, anchor: str) -> list[list[str]]:
    """Return the body rows of a section's table; none when it says there is nothing."""
    tables = dom.by_id(anchor).find_all("table")
    return rows(tables[0]) if tables else []


def assert_inert(dom: Node) -> None:
    """Check nothing in the page can run: no script or media element, no event handler."""
    tags = {n.tag for n in dom.iter()}
    assert not tags & {"script", "iframe", "object", "embed", "svg", "form", "link"}
    for node in dom.iter():
        for name, value in node.attrs.items():
            assert not name.startswith("on"), (node.tag, name, value)
            assert not value.strip().lower().startswith("javascript:"), (node.tag, name)
            if name == "href":
                assert value.startswith("#"), (node.tag, name, value)
        if node.tag == "img":  # only the picture of a scanned signing area, inline PNG
            assert node.attrs.get("src", "").startswith("data:image/png;base64,"), node.attrs


# --- filing messages through the real pipeline ------------------------------------------------

def labels() -> dict[str, dict[str, object]]:
    """Return the expected JSON of every labelled message, by name."""
    return {p.name.removesuffix(".expected.json"): json.loads(p.read_text("utf-8"))
            for p in sorted(MESSAGES.glob("*.expected.json"))}


def _root_of(name: str, known: dict[str, dict[str, object]]) -> str:
    """Return the first message of the thread a message follows."""
    while known[name].get("follows"):
        name = str(known[name]["follows"])
    return name


def filing_plan(known: dict[str, dict[str, object]]) -> list[tuple[str, int | None]]:
    """Return (name, sequence number to give its case) in an order that keeps threads whole.

    A message whose follow-ups cite a reference is filed first under that reference; the
    others follow, each after the message it follows or repeats.
    """
    cited: dict[str, int] = {}
    for name, label in known.items():
        if label.get("follows") and label.get("case_ref"):
            cited[_root_of(name, known)] = int(str(label["case_ref"]).rsplit("-", 1)[1])
    plan: list[tuple[str, int | None]] = [
        (name, seq) for name, seq in sorted(cited.items(), key=lambda item: item[1])]
    placed = set(cited)
    rest = [n for n in known if n not in placed]
    ordered: list[str] = []
    while rest:
        ready = [n for n in rest if all(str(known[n].get(k)) in placed
                                        for k in ("follows", "duplicate_of") if known[n].get(k))]
        assert ready, f"unresolvable order: {rest}"
        ordered.extend(ready)
        placed.update(ready)
        rest = [n for n in rest if n not in placed]
    plan.extend((n, FIRST_FREE_SEQ if i == 0 else None) for i, n in enumerate(ordered))
    return plan


def settings_for(tmp: Path, url: str, digest_to: str = "") -> Settings:
    """Write a settings file: this database, a local Maildir, acknowledgements to a Maildir.

    One extraction worker, in process: the tests run one cycle per message, and worker
    processes forked inside a cycle would still hold the mailbox lock at the next one.
    """
    path = tmp / "settings.toml"
    path.write_text(f"""
[general]
data_dir = "{tmp / 'data'}"
case_ref_format = "{REF_FORMAT}"
timezone = "{TIMEZONE}"
[database]
url = "{url}"
[mailboxes.famhp]
type = "maildir"
profile = "famhp"
path = "{tmp / 'maildir'}"
[smtp]
mode = "maildir"
[extraction]
workers = 1
[reports]
digest_to = "{digest_to}"
""", encoding="utf-8")
    return load_settings(path, env={})


def set_next_seq(rt: Runtime, seq: int) -> None:
    """Make the next new case of this year take the number seq."""
    year = datetime.now(ZoneInfo(rt.settings.general.timezone)).year
    with rt.database.session() as s:
        s.merge(CaseSequence(year=year, last_value=seq - 1))


def deliver_and_poll(rt: Runtime, data: bytes) -> None:
    """Deliver one message to the mailbox and run one intake cycle."""
    mailbox_settings = rt.settings.mailbox("famhp")
    assert mailbox_settings.path is not None
    mailbox.Maildir(str(mailbox_settings.path), create=True)
    store_message(mailbox_settings.path, data)
    poll_mailbox(rt, mailbox_settings)


def file_all(rt: Runtime, messages: Sequence[tuple[bytes, int | None]]) -> None:
    """File messages one cycle each (the order is the filing order), then send the replies."""
    for data, seq in messages:
        if seq is not None:
            set_next_seq(rt, seq)
        deliver_and_poll(rt, data)
    drain_outbox(rt)


def ref_of_message(rt: Runtime, message_id: str) -> str | None:
    """Return the reference of the case a message was filed under, if any."""
    with rt.database.session() as s:
        row = s.scalars(select(CaseMessage).where(
            CaseMessage.message_id == message_id.strip("<>"))).first()
        if row is None:
            return None
        cases = {c.id: c.ref for c in list_cases(s)}
        return cases[row.case_id]


def hostile_message() -> bytes:
    """Return a request whose subject, body and attachment name are written to attack a page."""
    msg = EmailMessage()
    for received in HOSTILE_RECEIVED:  # newest first, as relays write them
        msg["Received"] = received
    msg["From"] = "Mallory <mallory@evil.example>"
    msg["To"] = "derogation.meddev@fagg-afmps.be"
    msg["Subject"] = HOSTILE_SUBJECT
    msg["Date"] = "Mon, 02 Mar 2026 09:00:00 +0100"
    msg["Message-ID"] = "<hostile-1@evil.example>"
    msg.set_content(HOSTILE_BODY)
    msg.add_attachment((FORMS / "part1_en_fillable.pdf").read_bytes(), maintype="application",
                       subtype="pdf", filename=HOSTILE_FILENAME)
    return msg.as_bytes()


@dataclass
class Filed:
    """A database holding the labelled set, filed by the pipeline."""

    rt: Runtime
    refs: dict[str, str | None]  # message name -> case reference
    now: datetime  # two days after the replies left
    apart: dict[str, str]  # follow-up from a sender not on its case -> the case it first got


def module_db_url(request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    """Yield a migrated database shared by a module's tests, on the requested backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp / "intake.sqlite3")
        yield f"sqlite:///{tmp / 'intake.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.create("di_reports", request.getfixturevalue("pg_template"))
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


@pytest.fixture(scope="module", params=BACKENDS)
def labelled(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filed]:
    """File the whole labelled set, a hostile request and an unreadable message, once."""
    tmp = tmp_path_factory.mktemp(f"labelled-{request.param}")
    for url in module_db_url(request, tmp):
        rt = open_runtime(settings_for(tmp, url))
        try:
            known = labels()
            plan = [((MESSAGES / f"{n}.eml").read_bytes(), seq) for n, seq in filing_plan(known)]
            file_all(rt, [*plan, (hostile_message(), None), (JUNK, None)])
            apart = merge_follow_ups_filed_apart(rt, known)
            refs = {n: ref_of_message(rt, str(known[n]["message_id"])) for n in known}
            refs["hostile"] = ref_of_message(rt, "hostile-1@evil.example")
            yield Filed(rt, refs, datetime.now(UTC) + timedelta(days=2), apart)
        finally:
            rt.close()


def merge_follow_ups_filed_apart(rt: Runtime, known: dict[str, dict[str, object]]
                                 ) -> dict[str, str]:
    """Merge, as a reviewer would, each follow-up that filed apart into the case it follows.

    A follow-up whose sender is not on the case (the physician who sends Part 2) is filed as
    a case of its own, flagged, until a reviewer merges it (docs/security.md).
    """
    apart: dict[str, str] = {}
    for name, label in known.items():
        follows = label.get("follows")
        while follows and known[str(follows)].get("follows"):  # the request it all began with
            follows = known[str(follows)]["follows"]
        if not follows:
            continue
        ref = ref_of_message(rt, str(label["message_id"]))
        target = ref_of_message(rt, str(known[str(follows)]["message_id"]))
        if ref is None or target is None or ref == target:
            continue
        apart[name] = ref
        with rt.database.session() as s:
            merged, into = case_by_ref(s, ref), case_by_ref(s, target)
            assert merged is not None and into is not None
            merge_into(s, into, merged, "a.peeters", rt.settings.general.profiles_dir)
    return apart


def page_of(filed: Filed, name: str) -> Node:
    """Render and parse the case page of the case a labelled message was filed under."""
    ref = filed.refs[name]
    assert ref is not None, f"{name} was not filed under a case"
    with filed.rt.database.session() as s:
        return parse_html(case_page(s, ref, TIMEZONE, filed.now, filed.rt.blobs))


def checklist_of(dom: Node) -> dict[str, tuple[str, str, str]]:
    """Return item -> (mark, status, evidence) as the checklist table shows them."""
    return {r[1]: (r[0], r[3], r[4]) for r in section_rows(dom, "checklist")}


# --- the filing harness itself --------------------------------------------------------------

def test_the_filing_plan_files_each_message_after_what_it_follows() -> None:
    known = labels()
    plan = [name for name, _ in filing_plan(known)]
    assert sorted(plan) == sorted(known)
    for name, label in known.items():
        for key in ("follows", "duplicate_of"):
            if label.get(key):
                assert plan.index(str(label[key])) < plan.index(name), (name, key)
    given = dict(filing_plan(known))
    assert given["cu_en_missing_part2_bare"] == 134
    assert given["nd_de_complete_ivdr"] == 183


def test_follow_ups_join_the_case_they_cite(labelled: Filed) -> None:
    refs = labelled.refs
    assert refs["cu_en_missing_part2_bare"] == "DRG-2026-000134"
    assert refs["fu_en_unsigned_part2"] == refs["fu_en_signed_part2_completes"] \
        == "DRG-2026-000134"
    assert refs["fu_fr_part2_by_headers"] == refs["cu_fr_missing_part2"]
    # The physician's Part 2 filed apart (a sender not on the case) until it was merged; the
    # applicant's own follow-ups joined at once.
    assert {"fu_en_unsigned_part2", "fu_en_signed_part2_completes"} <= set(labelled.apart)


# --- the case page --------------------------------------------------------------------------

def test_every_case_page_shows_the_checklist_documents_and_thread_as_stored(
        labelled: Filed) -> None:
    with labelled.rt.database.session() as s:
        cases = list_cases(s)
        assert len(cases) > 40
        for case in cases:
            if not case_messages(s, case):  # merged into another case by a reviewer
                continue
            dom = parse_html(case_page(s, case.ref, TIMEZONE, labelled.now, labelled.rt.blobs))
            shown = checklist_of(dom)
            stored = {e.item_id: e for e in case_checklist(s, case)}
            assert set(shown) == set(stored), case.ref
            for item, (mark, status, evidence) in shown.items():
                assert mark == STATUS_MARKS[stored[item].status], (case.ref, item)
                assert status == stored[item].status.replace("_", " ")
                assert evidence == " ".join(stored[item].evidence.split())
            files = [r[0] for r in section_rows(dom, "documents")]
            assert files == [d.filename for d in case_documents(s, case)], case.ref
            thread = rows(section_table(dom, "thread"))
            assert [r[2] for r in thread] == [
                " ".join(m.subject.split()) or "(no subject)" for m in case_messages(s, case)]


def test_a_complete_request_shows_every_field_with_its_source_rule_and_confidence(
        labelled: Filed) -> None:
    dom = page_of(labelled, "cu_en_complete_manufacturer")
    assert "complete" in dom.find_all("h1")[0].text()
    checklist = checklist_of(dom)
    required = ["form_part1", "form_part2", "physician_signature", "applicant_role",
                "device_identified", "regulation_stated", "patient_reference", "justification"]
    for item in required:
        assert checklist[item][0] == "✓", (item, checklist[item])
    assert checklist["mandate_proof"][1] == "not applicable"  # a manufacturer applies
    fields = {r[0]: r for r in rows(section_table(dom, "fields"))}
    ref = labelled.refs["cu_en_complete_manufacturer"]
    with labelled.rt.database.session() as s:
        case = case_by_ref(s, str(ref))
        assert case is not None
        stored = case_to_dict(s, case)["fields"]
    assert {"device_name", "applicant_role", "regulation", "patient_reference"} <= set(fields)
    for key, value in stored.items():
        _, value_cell, source_cell, rule_cell, confidence_cell, _ = fields[key]
        assert value_cell == " ".join(value["value"].split())
        assert value["source"]["filename"] in source_cell
        if value["source"].get("page"):
            assert f"page {value['source']['page']}" in source_cell
        assert rule_cell == value["rule"]
        assert confidence_cell == f"{round(value['confidence'] * 100)} %"
    assert fields["applicant_role"][1] == "manufacturer"
    assert fields["regulation"][1] == "MDR"


def test_an_incomplete_request_marks_what_is_missing_and_waits_for_the_applicant(
        labelled: Filed) -> None:
    dom = page_of(labelled, "cu_en_device_unidentified")
    checklist = checklist_of(dom)
    assert checklist["device_identified"][0] == "✗"
    assert checklist["device_identified"][1] == "missing"
    assert checklist["device_identified"][2]  # the evidence says why
    header = dom.find_all("h1")[0].text()
    assert "incomplete" in header
    assert "waiting for applicant 2 d 0 h" in header
    request = dom.by_id("summary").text()
    assert "incomplete: device_identified" in request


def test_a_followed_up_case_shows_each_message_and_what_it_added(labelled: Filed) -> None:
    dom = page_of(labelled, "cu_en_missing_part2_bare")
    thread = rows(section_table(dom, "thread"))
    # The two Part 2 messages filed apart (their sender was not on the case) and were merged
    # in by a reviewer: they keep the role they were filed with.
    assert [r[3].split()[0] for r in thread] == ["request", "request", "request"]
    known = labels()
    assert [r[1] for r in thread] == [str(known[n]["sender"]) for n in (
        "cu_en_missing_part2_bare", "fu_en_unsigned_part2", "fu_en_signed_part2_completes")]
    with labelled.rt.database.session() as s:
        case = case_by_ref(s, "DRG-2026-000134")
        assert case is not None
        documents = case_documents(s, case)
        messages = {m.id: m for m in case_messages(s, case)}
    for doc in documents:
        position = list(messages).index(doc.case_message_id)
        assert doc.filename in thread[position][4]
    assert checklist_of(dom)["physician_signature"][0] == "✓"
    assert "complete" in dom.find_all("h1")[0].text()


def test_disagreeing_sources_are_shown_side_by_side(labelled: Filed) -> None:
    with labelled.rt.database.session() as s:
        found = None
        for case in list_cases(s):
            data = case_report_data(s, case, labelled.now)
            values: dict[str, set[str]] = {}
            for entry in data["field_history"]:
                values.setdefault(entry["key"], set()).add(entry["value"])
            conflicts = {k for k, v in values.items() if len(v) > 1}
            if conflicts:
                found = (data, conflicts)
                break
    assert found is not None, "the labelled set holds no disagreeing sources"
    data, conflicts = found
    dom = parse_html(case_to_html(data))
    for key in conflicts:
        block = dom.by_id(f"conflict-{key}")
        sides = block.find_all("div", class_="side")
        entries = [e for e in data["field_history"] if e["key"] == key]
        assert len(sides) == len(entries)
        for side, entry in zip(sides, entries, strict=True):
            assert " ".join(entry["value"].split()) in side.text()
            assert entry["source"]["filename"] in side.text()
        assert len(block.find_all("div", class_="in-effect")) == 1
        field_row = next(r for r in rows(section_table(dom, "fields")) if r[0] == key)
        assert "values disagree" in field_row[5]


def test_a_duplicate_submission_shows_in_the_thread_of_the_first(labelled: Filed) -> None:
    assert labelled.refs["cu_en_duplicate_resent"] == labelled.refs["cu_en_complete_manufacturer"]
    thread = rows(section_table(page_of(labelled, "cu_en_complete_manufacturer"), "thread"))
    assert [r[3].split()[0] for r in thread] == ["request", "duplicate"]


def test_an_urgent_request_shows_the_rule_hits_that_made_it_urgent(labelled: Filed) -> None:
    dom = page_of(labelled, "cu_en_urgent_complete")
    assert "URGENT" in dom.find_all("h1")[0].text()
    decisions = {r[0]: r for r in rows(section_table(dom, "decisions"))}
    assert decisions["urgent"][1] == "yes"
    with labelled.rt.database.session() as s:
        case = case_by_ref(s, str(labelled.refs["cu_en_urgent_complete"]))
        assert case is not None and case.urgent_reasons
        reasons = case.urgent_reasons
    for reason in reasons:
        assert " ".join(reason.split()) in dom.by_id("summary").text()
    assert set(decisions) >= {"kind", "language", "request type", "regulation", "acknowledge"}


def test_acknowledgements_and_events_are_listed(labelled: Filed) -> None:
    dom = page_of(labelled, "cu_en_device_unidentified")
    acks = rows(section_table(dom, "acknowledgements"))
    assert len(acks) == 1
    assert acks[0][1] == "d.murphy@endovia-vascular.ie"
    assert acks[0][4] == "sent"
    actions = [r[2] for r in rows(section_table(dom, "events"))]
    assert actions[:2] == ["case opened", "message filed"]
    assert "acknowledgement queued" in actions


def test_a_hostile_request_stays_text_on_its_page_and_in_the_digest(labelled: Filed) -> None:
    dom = page_of(labelled, "hostile")
    assert_inert(dom)
    assert HOSTILE_SUBJECT in dom.find_all("p", class_="subtitle")[0].text()
    thread = rows(section_table(dom, "thread"))
    assert thread[0][2] == HOSTILE_SUBJECT
    files = [r[0] for r in rows(section_table(dom, "documents"))]
    assert len(files) == 1 and "onerror=alert(1)" in files[0]
    page = parse_html(digest_to_html(digest(labelled.rt, labelled.now)))
    assert_inert(page)
    assert any(HOSTILE_SUBJECT in r[6] for r in rows(section_table(page, "queue")))


def test_a_case_page_shows_where_its_message_came_from(labelled: Filed) -> None:
    dom = page_of(labelled, "hostile")
    assert_inert(dom)
    hops = rows(section_table(dom, "routes"))
    assert [r[1:4] for r in hops] == [  # oldest first: the sender's side, then our server
        [f"{HOSTILE_RELAY} ([10.9.8.7])", "relay.evil.example", "ESMTPA"],
        ["relay.evil.example (relay.evil.example [192.0.2.66])", "mx1.fagg-afmps.be",
         "ESMTPS"]]
    assert [r[4:] for r in hops] == [["2026-03-02 09:01:00", "—"],
                                     ["2026-03-02 09:05:00", "4 min"]]
    shown = dom.by_id("routes").text()
    assert "2 hops, 4 min in transit." in shown
    assert "Anomalies: DateHeaderDefect" in shown
    assert "received[1]: weekday-mismatch" in shown
    plain = page_of(labelled, "cu_en_complete_manufacturer")
    assert "No Received header" in plain.by_id("routes").text()


def test_the_triage_outcome_is_in_the_export(labelled: Filed) -> None:
    with labelled.rt.database.session() as s:
        case = case_by_ref(s, str(labelled.refs["cu_en_complete_manufacturer"]))
        assert case is not None
        exported = case_to_dict(s, case)
    triage = exported["triage"]
    assert triage["kind"] == "new_request"
    assert triage["request_type"]["value"] == "compassionate_use"
    assert triage["request_type"]["reasons"]
    assert triage["complete"] is True and triage["missing"] == []


# --- the digest -----------------------------------------------------------------------------

def test_the_digest_lists_every_open_case_urgent_first_then_oldest(labelled: Filed) -> None:
    data = digest(labelled.rt, labelled.now)
    dom = parse_html(digest_to_html(data))
    queue = rows(section_table(dom, "queue"))
    with labelled.rt.database.session() as s:
        open_cases = [c for c in list_cases(s) if c.status in OPEN_CASE_STATUSES]
    urgent = sorted((c for c in open_cases if c.urgent), key=lambda c: c.created_at)
    calm = sorted((c for c in open_cases if not c.urgent), key=lambda c: c.created_at)
    assert [r[0] for r in queue] == [c.ref for c in [*urgent, *calm]]
    urgent_refs = {labelled.refs[n] for n in ("cu_en_urgent_complete", "cu_nl_urgent_complete",
                                             "nd_en_urgent_shortage", "cu_fr_urgent_unsigned")}
    assert urgent_refs <= {r[0] for r in queue if r[1].startswith("URGENT")}
    by_ref = {r[0]: r for r in queue}
    missing = by_ref[str(labelled.refs["cu_en_device_unidentified"])][4]
    assert missing == "incomplete device_identified"
    assert by_ref[str(labelled.refs["cu_en_complete_manufacturer"])][4] == "complete"
    assert by_ref[str(labelled.refs["cu_en_complete_manufacturer"])][2].startswith("2 d 0 h")


def test_the_digest_counts_cases_per_status_and_request_type(labelled: Filed) -> None:
    dom = parse_html(digest_to_html(digest(labelled.rt, labelled.now)))
    table = section_table(dom, "counts")
    header = [th.text() for th in table.find_all("thead")[0].find_all("th")]
    body = {r[0]: r[1:] for r in rows(table)}
    with labelled.rt.database.session() as s:
        cases = list_cases(s)
    statuses = sorted({c.status for c in cases})
    assert header == ["Request type", *(st.replace("_", " ") for st in statuses), "Total"]
    for request_type in ("compassionate_use", "national_derogation"):
        counts = [str(sum(1 for c in cases if c.request_type == request_type and c.status == st))
                  for st in statuses]
        assert body[request_type.replace("_", " ")][:-1] == counts
    assert body["total"][-1] == str(len(cases))


def test_the_digest_shows_who_we_wait_for_and_for_how_long(labelled: Filed) -> None:
    dom = parse_html(digest_to_html(digest(labelled.rt, labelled.now)))
    waiting = {r[0]: r for r in rows(section_table(dom, "waiting"))}
    unidentified = waiting[str(labelled.refs["cu_en_device_unidentified"])]
    assert unidentified[1] == "2 d 0 h"
    assert unidentified[3] == "d.murphy@endovia-vascular.ie"
    assert unidentified[4] == "device_identified"
    with labelled.rt.database.session() as s:
        statuses = {c.ref: c.status for c in list_cases(s)}
    assert all(statuses[ref] == "incomplete" for ref in waiting)
    assert str(labelled.refs["cu_en_complete_manufacturer"]) not in waiting


def test_the_digest_lists_the_message_intake_could_not_read(labelled: Filed) -> None:
    data = digest(labelled.rt, labelled.now)
    dom = parse_html(digest_to_html(data))
    failed = rows(section_table(dom, "failed"))
    assert len(failed) == 1
    assert "famhp/INBOX uid" in failed[0][3]
    assert "malformed_message" in failed[0][4]
    text = digest_to_text(data)
    assert "NEEDS ATTENTION: messages not filed (1)" in text
    assert "malformed_message" in text


def test_the_text_digest_says_the_same_in_plain_words(labelled: Filed) -> None:
    data = digest(labelled.rt, labelled.now)
    text = digest_to_text(data)
    queue = rows(section_table(parse_html(digest_to_html(data)), "queue"))
    listed = [line.split()[1] if line.startswith("  URGENT ") else line.split()[0]
              for line in text.splitlines() if line.startswith(("  DRG-", "  URGENT DRG-"))]
    assert listed[:len(queue)] == [r[0] for r in queue]
    unidentified = str(labelled.refs["cu_en_device_unidentified"])
    assert (f"  {unidentified}  2 d 0 h old  status incomplete  compassionate use  "
            "missing: device_identified") in text
    assert f"  {unidentified}  waiting 2 d 0 h" in text


# --- reviewers' commands --------------------------------------------------------------------

def file_one(tmp_path: Path, db_url: str, name: str, digest_to: str = "") -> tuple[Settings, str]:
    """File one labelled message into a fresh database; return the settings and its case."""
    settings = settings_for(tmp_path, db_url, digest_to)
    rt = open_runtime(settings)
    try:
        file_all(rt, [((MESSAGES / f"{name}.eml").read_bytes(), None)])
        ref = ref_of_message(rt, str(labels()[name]["message_id"]))
    finally:
        rt.close()
    assert ref is not None
    return settings, ref


def render(settings: Settings, ref: str) -> Node:
    """Render a case page of the database the settings point at."""
    db = Database.open(str(settings.database.url))
    try:
        with db.session() as s:
            return parse_html(case_page(s, ref, TIMEZONE, datetime.now(UTC),
                                        BlobStore(settings.general.data_dir / "blobs")))
    finally:
        db.dispose()


def test_a_reviewer_value_is_kept_apart_and_rechecks_the_checklist(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, ref = file_one(tmp_path, db_url, "cu_en_role_unticked")
    before = render(settings, ref)
    assert checklist_of(before)["applicant_role"][0] == "✗"
    device_model = [r for r in rows(section_table(before, "fields")) if r[0] == "device_model"]
    args = argparse.Namespace(ref=ref.lower(), field="applicant_role", value="Manufacturer",
                              actor="alice")
    assert cmd_cases_set(args, settings) == 0
    assert "applicant_role = 'manufacturer' set by alice" in capsys.readouterr().out
    args = argparse.Namespace(ref=ref, field="device_model", value="CF-2 rev B", actor="bob")
    assert cmd_cases_set(args, settings) == 0
    after = render(settings, ref)
    assert checklist_of(after)["applicant_role"][0] == "✓"
    assert "complete" in after.find_all("h1")[0].text()
    corrections = {r[0]: r for r in rows(section_table(after, "corrections"))}
    assert corrections["applicant_role"][1:3] == ["manufacturer", "alice"]
    assert corrections["applicant_role"][4] == "in effect"
    assert corrections["applicant_role"][5] == "nothing extracted"
    assert corrections["device_model"][1] == "CF-2 rev B"
    assert device_model[0][1] in corrections["device_model"][5]  # the extracted one, beside
    fields = {r[0]: r for r in rows(section_table(after, "fields"))}
    assert fields["device_model"][1] == device_model[0][1]  # extraction is not overwritten
    assert "overridden by a reviewer: CF-2 rev B" in fields["device_model"][5]
    summary = after.by_id("summary").text()
    assert "CF-2 rev B reviewer set by bob" in summary
    events = [(r[1], r[2]) for r in rows(section_table(after, "events"))]
    assert ("alice", "field set") in events and ("alice", "status changed") in events


def test_cases_set_refuses_an_unknown_field_or_an_invalid_value(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, ref = file_one(tmp_path, db_url, "cu_en_role_unticked")
    bad_key = argparse.Namespace(ref=ref, field="colour", value="red", actor="alice")
    assert cmd_cases_set(bad_key, settings) == 1
    bad_value = argparse.Namespace(ref=ref, field="risk_class", value="IV", actor="alice")
    assert cmd_cases_set(bad_value, settings) == 1
    no_case = argparse.Namespace(ref="DRG-1999-000001", field="quantity", value="2",
                                 actor="alice")
    assert cmd_cases_set(no_case, settings) == 1
    errors = capsys.readouterr().err
    assert "unknown field 'colour'" in errors and "not a valid risk_class" in errors
    assert "no case 'DRG-1999-000001'" in errors
    assert section_rows(render(settings, ref), "corrections") == []


def test_a_decision_is_recorded_with_its_note_and_leaves_the_queue(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, ref = file_one(tmp_path, db_url, "cu_en_complete_manufacturer")
    no_note = argparse.Namespace(ref=ref, status="granted", note="  ", actor="carol")
    assert cmd_cases_status(no_note, settings) == 1
    unknown = argparse.Namespace(ref=ref, status="approved", note="ok", actor="carol")
    assert cmd_cases_status(unknown, settings) == 1
    args = argparse.Namespace(ref=ref, status="granted", note="Benefit shown; single patient.",
                              actor="carol")
    assert cmd_cases_status(args, settings) == 0
    assert f"{ref}: status complete -> granted by carol" in capsys.readouterr().out
    dom = render(settings, ref)
    assert "granted" in dom.find_all("h1")[0].text()
    events = [r for r in rows(section_table(dom, "events")) if r[2] == "status changed"]
    assert events[-1][1] == "carol"
    assert "note: Benefit shown; single patient." in events[-1][3]
    rt = open_runtime(settings)
    try:
        data = digest(rt, datetime.now(UTC))
    finally:
        rt.close()
    assert data["open_cases"] == []
    counts = rows(section_table(parse_html(digest_to_html(data)), "counts"))
    assert counts[0][:2] == ["compassionate use", "1"]


def test_the_command_line_runs_set_status_and_report(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, ref = file_one(tmp_path, db_url, "cu_en_role_unticked")
    parser = build_parser()
    correct = parser.parse_args(["cases", "set", ref, "applicant_role", "manufacturer",
                                 "--actor", "dana"])
    assert correct.handler(correct, settings) == 0
    decide = parser.parse_args(["cases", "status", ref, "refused", "--note",
                                "An alternative exists", "--actor", "dana"])
    assert decide.handler(decide, settings) == 0
    with pytest.raises(SystemExit) as wrong:
        parser.parse_args(["cases", "set", ref, "quantity"])
    assert wrong.value.code == 2
    assert "the following arguments are required: VALUE" in capsys.readouterr().err
    report = parser.parse_args(["report", "case", ref, "--output", "-"])
    assert report.handler(report, settings) == 0
    dom = parse_html(capsys.readouterr().out)
    assert "refused" in dom.find_all("h1")[0].text()
    assert [r[0:3] for r in section_rows(dom, "corrections")] == [
        ["applicant_role", "manufacturer", "dana"]]
    digest_args = parser.parse_args(["report", "digest", "--text"])
    assert (digest_args.output_dir, digest_args.text) == (None, True)


def test_report_case_writes_the_page_into_the_reports_folder(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, ref = file_one(tmp_path, db_url, "cu_en_device_unidentified")
    args = argparse.Namespace(what="case", ref=ref, output=None, output_dir=None, text=False)
    assert cmd_report(args, settings) == 0
    written = settings.reports.output_dir / f"{ref}.html"
    assert f"case page written to {written}" in capsys.readouterr().out
    dom = parse_html(written.read_text("utf-8"))
    assert checklist_of(dom)["device_identified"][0] == "✗"
    assert "No Received header" in dom.by_id("routes").text()  # its original was read
    to_stdout = argparse.Namespace(what="case", ref=ref, output=Path("-"), output_dir=None,
                                   text=False)
    assert cmd_report(to_stdout, settings) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    unknown = argparse.Namespace(what="case", ref="DRG-2026-999999", output=None,
                                 output_dir=None, text=False)
    assert cmd_report(unknown, settings) == 1
    assert "no case 'DRG-2026-999999'" in capsys.readouterr().err


def test_report_digest_writes_html_or_prints_text(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings, ref = file_one(tmp_path, db_url, "cu_en_device_unidentified")
    folder = tmp_path / "out"
    args = argparse.Namespace(what="digest", ref=None, output=None, output_dir=folder,
                              text=False)
    assert cmd_report(args, settings) == 0
    written = sorted(folder.glob("digest-*.html"))
    assert len(written) == 1 and str(written[0]) in capsys.readouterr().out
    queue = rows(section_table(parse_html(written[0].read_text("utf-8")), "queue"))
    assert [r[0] for r in queue] == [ref]
    text = argparse.Namespace(what="digest", ref=None, output=None, output_dir=None, text=True)
    assert cmd_report(text, settings) == 0
    out = capsys.readouterr().out
    assert f"  {ref}  0 min old  status incomplete  compassionate use  missing: " \
           f"device_identified" in out


def test_the_digest_job_keeps_the_digest_and_mails_it(tmp_path: Path, db_url: str) -> None:
    settings, ref = file_one(tmp_path, db_url, "cu_en_device_unidentified",
                             digest_to="reviewers@fagg-afmps.be, head@fagg-afmps.be")
    rt = open_runtime(settings)
    try:
        digest_job(rt)
    finally:
        rt.close()
    assert len(list(settings.reports.output_dir.glob("digest-*.html"))) == 1
    outbox = mailbox.Maildir(str(settings.smtp.outbox_maildir), create=False)
    sent = [email.message_from_bytes(m.as_bytes(), policy=default_policy)
            for m in outbox if "Derogation mailbox digest" in str(m["Subject"])]
    assert len(sent) == 1
    mail = sent[0]
    assert mail["X-Envelope-To"] == "reviewers@fagg-afmps.be, head@fagg-afmps.be"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["From"] == "derogation.meddev@fagg-afmps.be"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert ref in text.get_content()
    assert [r[0] for r in rows(section_table(parse_html(html.get_content()), "queue"))] == [ref]


# --- pure rendering -------------------------------------------------------------------------

def test_the_queue_puts_urgent_first_then_the_oldest_then_the_nearest_complete() -> None:
    cases = [
        {"ref": "A", "urgent": False, "age_seconds": 100, "missing": []},
        {"ref": "B", "urgent": True, "age_seconds": 10, "missing": ["x", "y"]},
        {"ref": "C", "urgent": False, "age_seconds": 900, "missing": ["x"]},
        {"ref": "D", "urgent": True, "age_seconds": 50, "missing": []},
        {"ref": "E", "urgent": False, "age_seconds": 100, "missing": ["x", "y"]},
        {"ref": "F", "urgent": False, "age_seconds": 100, "missing": ["x"]},
    ]
    assert [c["ref"] for c in queue_order(cases)] == ["D", "B", "C", "A", "F", "E"]


def test_hostile_values_anywhere_in_the_data_stay_text() -> None:
    evil = '"><img src=x onerror=alert(1)>'
    data = {
        "ref": f"DRG-{evil}", "status": evil, "subject": "<script>alert(1)</script>",
        "request_type": evil, "urgent": True, "urgent_reasons": [evil],
        "triage": {"kind": evil, "kind_reasons": [evil], "flags": [evil],
                   "language": {"value": evil, "reasons": [evil]}},
        "checklist": [{"id": evil, "severity": "required", "status": evil, "evidence": evil}],
        "field_history": [
            {"key": evil, "value": evil, "source": {"filename": HOSTILE_FILENAME, "page": evil,
                                                    "channel": evil, "label": evil},
             "source_text": evil, "rule": evil, "confidence": 0.5, "origin": "extracted",
             "state": "current", "message_id": evil, "at": evil},
            {"key": evil, "value": "other", "source": {"filename": evil}, "rule": evil,
             "origin": "extracted", "state": "alternative"},
            {"key": evil, "value": evil, "origin": "reviewer", "actor": evil,
             "state": "current"}],
        "documents": [{"filename": HOSTILE_FILENAME, "kind": evil, "sha256": evil, "size": 3,
                       "error": evil, "message_id": evil}],
        "messages": [{"message_id": evil, "sender": evil, "subject": evil, "role": evil,
                      "kind": evil, "sent_at": evil}],
        "outgoing": [{"recipient": evil, "subject": evil, "state": evil, "last_error": evil}],
        "events": [{"at": evil, "actor": evil, "action": evil, "detail": {evil: [evil]}}],
        "waiting": {"waiting_seconds": 5, "recipient": evil, "since": evil},
    }
    html = case_to_html(data)
    dom = parse_html(html)
    assert_inert(dom)
    assert "<img" not in html and "<script" not in html
    assert HOSTILE_FILENAME in rows(section_table(dom, "documents"))[0][0]
    assert "<script>alert(1)</script>" in dom.find_all("p", class_="subtitle")[0].text()
    digest_data = {"open_cases": [{"ref": evil, "subject": evil, "urgent": True,
                                   "urgent_reasons": [evil], "missing": [evil],
                                   "status": evil, "applicant_email": evil}],
                   "counts": [{"status": evil, "request_type": evil, "count": 1}],
                   "waiting": [{"ref": evil, "recipient": evil, "missing": [evil]}],
                   "failed": [{"subject": evil, "sender": evil, "error": evil,
                               "mailbox": evil, "folder": evil, "message_id": evil}]}
    html = digest_to_html(digest_data)
    assert_inert(parse_html(html))
    assert "<img" not in html


def test_a_page_from_plain_export_data_shows_the_current_values() -> None:
    data = {"ref": "DRG-2026-000001", "status": "incomplete",
            "fields": {"device_name": {"value": "CardioFlow", "source": {
                "filename": "part1.pdf", "page": 2, "form_field": "Text1",
                "channel": "acroform"}, "rule": "famhp.label.device_name#0",
                "confidence": 0.95, "origin": "extracted"}}}
    dom = parse_html(case_to_html(data))
    fields = rows(section_table(dom, "fields"))
    assert fields == [["device_name", "CardioFlow",
                       "part1.pdf · page 2 · form field Text1 acroform",
                       "famhp.label.device_name#0", "95 %", ""]]
    assert "No checklist" in dom.by_id("checklist").text()


def test_the_page_is_self_contained_and_printable() -> None:
    html = case_to_html({"ref": "DRG-2026-000001", "status": "complete"})
    dom = parse_html(html)
    assert_inert(dom)
    styles = dom.find_all("style")
    assert len(styles) == 1 and "@media print" in styles[0].text()
    policy = [m for m in dom.find_all("meta") if m.attrs.get("http-equiv")]
    assert policy[0].attrs["content"].startswith("default-src 'none'")
    assert "http://" not in html and "https://" not in html



# --- a case read from scans ---------------------------------------------------------------------

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4"
       "nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==")


def test_the_case_page_shows_what_was_read_from_a_scan() -> None:
    source = {"filename": "part2-scan.pdf", "channel": "ocr", "page": 1,
              "label": "Patient initials", "ocr_confidence": 91.5}
    data = {
        "ref": "DRG-2026-000009", "status": "incomplete", "missing": ["physician_signature"],
        "checklist": [{"id": "physician_signature", "severity": "required",
                       "status": "unclear",
                       "evidence": "could be on part2-scan.pdf p.2 read from a scan with "
                                   "low OCR confidence (mean 41%)"}],
        "fields": {"patient_reference": {"value": "L.M.", "source": source,
                                         "source_text": "part2-scan.pdf p.1", "rule": "r",
                                         "confidence": 0.66, "origin": "extracted"}},
        "documents": [{"filename": "part2-scan.pdf", "kind": "form_part2", "pages": 2,
                       "size": 1000, "sha256": "ab" * 32, "error": None,
                       "page_problems": [{"page": 2, "reason": "ocr_low_confidence",
                                          "detail": "read from a scan with low OCR "
                                                    "confidence (mean 41%)"}],
                       "signatures": [{"name": "Signature", "signed": True, "page": 1,
                                       "channel": "ocr", "picture": PNG,
                                       "evidence": "p.1 area x 66-366 pt, y 463-519 pt by "
                                                   "'Signature': 150 pt² of ink"}]}],
    }
    dom = parse_html(case_to_html(data))
    assert_inert(dom)
    assert "needs review: physician_signature" in dom.text()
    fields = section_rows(dom, "fields")
    assert "read from a scan (OCR 92 %)" in fields[0][2]
    documents = section_rows(dom, "documents")
    assert "pages not read well" in documents[0][5] and "p.2 read from a scan" in documents[0][5]
    assert "signed" in documents[0][6] and "150 pt² of ink" in documents[0][6]
    [picture] = dom.by_id("documents").find_all("img")
    assert picture.attrs["src"] == PNG and "Signature" in picture.attrs["alt"]


def test_a_signature_picture_that_is_not_an_inline_png_is_not_shown() -> None:
    data = {"ref": "DRG-2026-000010", "documents": [{
        "filename": "x.pdf", "kind": "form_part2", "signatures": [{
            "name": "Signature", "signed": False, "picture": "https://example.org/x.png"}]}]}
    dom = parse_html(case_to_html(data))
    assert not dom.by_id("documents").find_all("img")
