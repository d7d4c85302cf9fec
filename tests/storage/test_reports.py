"""The read-only queries behind the reviewers' reports, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from storage.blobs import BlobStore
from storage.cases import create_case, set_checklist, set_status
from storage.db import Database
from storage.fields import set_reviewer_field
from storage.ledger import ledger_record, ledger_set_state
from storage.messages import add_documents, add_message
from storage.models import Case, CaseMessage, OutgoingMessage
from storage.outbox import outbox_add, outbox_mark_sending, outbox_mark_sent
from storage.reports import (
    case_counts,
    case_field_history,
    case_report_data,
    digest_data,
    failed_intake,
    open_cases,
    waiting_for_applicant,
)
from tests.storage.factories import (
    APPLICANT,
    document,
    eml,
    field,
    parsed,
    raw,
    record_values,
    triage,
)
from triage.records import ChecklistItem

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PART1 = document("part1.pdf", b"%PDF-1.7 part one")
PART2 = document("part2.pdf", b"%PDF-1.7 part two", kind="form_part2")


def new_case(database: Database, ref: str, *, request_type: str | None = "compassionate_use",
             urgent: bool = False, opened: datetime = T0) -> Case:
    """File a case with its first message, both dated `opened`."""
    result = triage(request_type=request_type, urgent=urgent)
    with database.session() as s:
        case = create_case(s, ref, result, f"subject of {ref}", APPLICANT)
        msg = add_message(s, case, None, parsed(f"{ref}@hospital.example"), result, "request")
        case.created_at = msg.created_at = opened
    return case


def add_reply(database: Database, case: Case, role: str, at: datetime, n: int) -> CaseMessage:
    """File another message of the case at a given time (a follow-up, an auto-reply ...)."""
    result = triage(kind="automated" if role == "automated" else "follow_up")
    with database.session() as s:
        msg = add_message(s, case, None, parsed(f"reply-{n}@hospital.example"), result, role)
        msg.created_at = at
    return msg


def acknowledge(database: Database, case: Case, queued: datetime, sent: datetime | None,
                n: int = 1) -> OutgoingMessage:
    """Queue an acknowledgement at `queued`; hand it over at `sent` (None: still pending)."""
    with database.session() as s:
        row = outbox_add(s, case=case, case_message=None, message_id=f"<ack-{case.ref}-{n}@x>",
                         recipient=APPLICANT, subject=f"[{case.ref}] Acknowledgement",
                         kind="new_incomplete", raw=b"Subject: ack\r\n\r\nok\r\n", held=False,
                         now=queued)
        if sent is not None:
            row = outbox_mark_sending(s, row, now=sent)
            row = outbox_mark_sent(s, row, "250 ok", now=sent)
    return row


def checklist(database: Database, case: Case, **statuses: str) -> None:
    """Set checklist items: name=status, an 'advisory_' prefix makes an item advisory."""
    items = [ChecklistItem(name.removeprefix("advisory_"),
                           "advisory" if name.startswith("advisory_") else "required",
                           status, f"{name} is {status}")  # type: ignore[arg-type]
             for name, status in statuses.items()]
    with database.session() as s:
        set_checklist(s, case, items)


def test_open_cases_have_an_age_and_what_they_still_lack(database: Database) -> None:
    waiting = new_case(database, "DRG-2026-000001", urgent=True)
    decided = new_case(database, "DRG-2026-000002", opened=T0 + timedelta(hours=1))
    checklist(database, waiting, form_part1="present", form_part2="missing",
              physician_signature="unclear", mandate_proof="not_applicable",
              advisory_ifu="missing")
    with database.session() as s:
        set_status(s, decided, "granted", "alice", "benefit shown")
    with database.session() as s:
        found = open_cases(s, T0 + timedelta(days=3, hours=2))
    assert [c.ref for c in found] == ["DRG-2026-000001"]
    case = found[0]
    assert case.age_seconds == (3 * 24 + 2) * 3600
    assert case.missing == ("form_part2", "physician_signature")
    assert case.advisory_missing == ("ifu",)
    assert (case.urgent, case.status, case.checklist_items) == (True, "incomplete", 5)
    assert case.created_at == T0


def test_an_incomplete_case_waits_from_when_our_acknowledgement_left(database: Database) -> None:
    case = new_case(database, "DRG-2026-000001")
    checklist(database, case, form_part2="missing")
    acknowledge(database, case, queued=T0 + timedelta(seconds=1), sent=T0 + timedelta(minutes=5))
    with database.session() as s:
        waiting = waiting_for_applicant(s, T0 + timedelta(days=2, minutes=5))
    assert len(waiting) == 1
    assert waiting[0].ref == "DRG-2026-000001"
    assert waiting[0].since == T0 + timedelta(minutes=5)
    assert waiting[0].waiting_seconds == 2 * 24 * 3600
    assert waiting[0].recipient == APPLICANT
    assert waiting[0].missing == ("form_part2",)


def test_a_newer_message_from_the_applicant_ends_the_wait(database: Database) -> None:
    case = new_case(database, "DRG-2026-000001")
    acknowledge(database, case, queued=T0 + timedelta(seconds=1), sent=T0 + timedelta(minutes=5))
    add_reply(database, case, "follow_up", T0 + timedelta(days=1), 1)
    with database.session() as s:
        assert waiting_for_applicant(s, T0 + timedelta(days=2)) == []
    # Our answer to the follow-up leaves: the case waits again, from then.
    acknowledge(database, case, queued=T0 + timedelta(days=1, seconds=1),
                sent=T0 + timedelta(days=1, minutes=1), n=2)
    with database.session() as s:
        waiting = waiting_for_applicant(s, T0 + timedelta(days=2))
    assert [w.since for w in waiting] == [T0 + timedelta(days=1, minutes=1)]


def test_an_auto_reply_does_not_end_the_wait_and_an_unsent_ack_does_not_start_it(
        database: Database) -> None:
    answered_by_robot = new_case(database, "DRG-2026-000001")
    acknowledge(database, answered_by_robot, queued=T0 + timedelta(seconds=1),
                sent=T0 + timedelta(minutes=1))
    add_reply(database, answered_by_robot, "automated", T0 + timedelta(minutes=2), 1)
    add_reply(database, answered_by_robot, "duplicate", T0 + timedelta(minutes=3), 2)
    not_sent = new_case(database, "DRG-2026-000002")
    acknowledge(database, not_sent, queued=T0 + timedelta(seconds=1), sent=None)
    with database.session() as s:
        waiting = waiting_for_applicant(s, T0 + timedelta(hours=1))
    assert [w.ref for w in waiting] == ["DRG-2026-000001"]


def test_a_complete_or_decided_case_waits_for_nobody(database: Database) -> None:
    complete = new_case(database, "DRG-2026-000001")
    decided = new_case(database, "DRG-2026-000002")
    for case in (complete, decided):
        acknowledge(database, case, queued=T0 + timedelta(seconds=1),
                    sent=T0 + timedelta(minutes=1))
    with database.session() as s:
        set_status(s, complete, "complete", "intake", "checklist complete")
        set_status(s, decided, "refused", "alice", "an alternative exists")
    with database.session() as s:
        assert waiting_for_applicant(s, T0 + timedelta(days=1)) == []


def test_cases_are_counted_per_status_and_request_type(database: Database) -> None:
    new_case(database, "DRG-2026-000001")
    new_case(database, "DRG-2026-000002")
    new_case(database, "DRG-2026-000003", request_type="national_derogation")
    enquiry = new_case(database, "DRG-2026-000004", request_type=None)
    with database.session() as s:
        set_status(s, enquiry, "enquiry", "intake", "a question")
    with database.session() as s:
        counts = [(c.status, c.request_type, c.count) for c in case_counts(s)]
    assert counts == [("enquiry", None, 1), ("incomplete", "compassionate_use", 2),
                      ("incomplete", "national_derogation", 1)]


def test_messages_that_failed_intake_are_listed_with_their_errors(
        database: Database, blobs: BlobStore) -> None:
    with database.session() as s:
        good = ledger_record(s, raw(1, eml("good@x")), "good@x", blobs)
        bad = ledger_record(s, raw(2, eml("bad@x")), "bad@x", blobs)
        moved = ledger_record(s, raw(3, eml("moved@x")), "moved@x", blobs)
    with database.session() as s:
        ledger_set_state(s, good, "filed", outcome="request DRG-2026-000001")
        ledger_set_state(s, bad, "failed", outcome="needs attention",
                         error="parse failed: malformed_message: not an e-mail")
        ledger_set_state(s, moved, "attention", outcome="needs attention",
                         error="extract failed: ParseError: encrypted")
    with database.session() as s:
        failed = failed_intake(s)
    assert [(f.uid, f.state, f.message_id) for f in failed] == [
        (2, "failed", "bad@x"), (3, "attention", "moved@x")]
    assert failed[0].error == "parse failed: malformed_message: not an e-mail"
    assert failed[1].error == "extract failed: ParseError: encrypted"
    assert failed[0].mailbox == "derogation.meddev@fagg-afmps.be"


def test_the_field_history_keeps_superseded_alternative_and_reviewer_values(
        database: Database) -> None:
    case = new_case(database, "DRG-2026-000001")
    with database.session() as s:
        msg = add_message(s, case, None, parsed("docs@hospital.example"), triage(), "follow_up")
        by_sha = {d.sha256: d for d in add_documents(s, case, msg, (PART1, PART2))}
        record_values(s, case, msg, [field("signature_date", "2026-03-01", doc=PART1,
                                        confidence=0.95),
                                  field("signature_date", "2026-03-04", doc=PART2, page=2,
                                        confidence=0.85),
                                  field("quantity", "1", doc=PART1)], by_sha)
    with database.session() as s:
        record_values(s, case, msg, [field("quantity", "2", doc=PART2)], by_sha)
        set_reviewer_field(s, case, "quantity", "3", "alice")
    with database.session() as s:
        history = case_field_history(s, case)
    summary = [(e["key"], e["value"], e["origin"], e["state"], e["document"]) for e in history]
    assert summary == [
        ("quantity", "1", "extracted", "superseded", "part1.pdf"),
        ("signature_date", "2026-03-01", "extracted", "current", "part1.pdf"),
        ("signature_date", "2026-03-04", "extracted", "alternative", "part2.pdf"),
        ("quantity", "2", "extracted", "current", "part2.pdf"),
        ("quantity", "3", "reviewer", "current", None),
    ]
    alternative = history[2]
    assert alternative["source"]["page"] == 2
    assert alternative["source_text"] == "part2.pdf p.2 field Text1"
    assert alternative["message_id"] == "docs@hospital.example"
    assert history[4]["actor"] == "alice"


def test_the_case_report_data_adds_history_and_waiting_to_the_export(
        database: Database) -> None:
    case = new_case(database, "DRG-2026-000001")
    checklist(database, case, form_part2="missing")
    acknowledge(database, case, queued=T0 + timedelta(seconds=1), sent=T0 + timedelta(hours=1))
    with database.session() as s:
        set_reviewer_field(s, case, "quantity", "2", "alice")
    now = T0 + timedelta(days=1, hours=1)
    with database.session() as s:
        data = case_report_data(s, case, now)
    assert data["ref"] == "DRG-2026-000001" and "triage" in data and "checklist" in data
    assert [e["value"] for e in data["field_history"]] == ["2"]
    assert data["waiting"]["waiting_seconds"] == 24 * 3600
    assert data["waiting"]["since"] == (T0 + timedelta(hours=1)).isoformat()
    assert data["generated_at"] == now.isoformat()
    json.dumps(data)  # plain JSON data, ready for a renderer or an export


def test_the_digest_data_is_plain_json(database: Database, blobs: BlobStore) -> None:
    case = new_case(database, "DRG-2026-000001", urgent=True)
    checklist(database, case, form_part2="missing")
    acknowledge(database, case, queued=T0 + timedelta(seconds=1), sent=T0 + timedelta(hours=1))
    with database.session() as s:
        row = ledger_record(s, raw(9, eml("broken@x")), "broken@x", blobs)
    with database.session() as s:
        ledger_set_state(s, row, "failed", error="parse failed: malformed_message")
    with database.session() as s:
        data = digest_data(s, T0 + timedelta(days=1))
    assert json.loads(json.dumps(data)) == data
    assert [c["ref"] for c in data["open_cases"]] == ["DRG-2026-000001"]
    assert data["open_cases"][0]["missing"] == ["form_part2"]
    assert data["open_cases"][0]["created_at"] == T0.isoformat()
    assert [w["ref"] for w in data["waiting"]] == ["DRG-2026-000001"]
    assert data["counts"] == [{"status": "incomplete", "request_type": "compassionate_use",
                               "count": 1}]
    assert [f["error"] for f in data["failed"]] == ["parse failed: malformed_message"]
