"""Cases get unique yearly references, are found again by thread, sender and attachments."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from config.errors import StorageError
from parsers.records import DocumentPart, ExtractedDocument
from storage.blobs import BlobStore
from storage.cases import (
    case_by_message_ids,
    case_by_ref,
    case_checklist,
    case_has_document_hashes,
    create_case,
    list_cases,
    next_case_ref,
    open_cases_for_sender,
    set_checklist,
    set_status,
    triage_to_dict,
)
from storage.casestate import record_case_state, stored_case_state
from storage.db import Database
from storage.events import add_event, case_events
from storage.fields import current_fields
from storage.ledger import ledger_record
from storage.messages import add_documents, add_message
from storage.models import Case
from storage.outbox import outbox_add
from tests.storage.factories import (
    APPLICANT,
    checklist,
    document,
    eml,
    field,
    parsed,
    raw,
    record_values,
    triage,
)
from tests.triage.builders import profile_rules

PART1 = document("part1.pdf", b"%PDF-1.7 part one")
PART2 = document("part2.pdf", b"%PDF-1.7 part two", kind="form_part2")


def file_request(database: Database, message_id: str, *, sender: str = APPLICANT,
                 documents: tuple[ExtractedDocument, ...] = (PART1,), year: int = 2025) -> Case:
    """File a new case from one request message and return it."""
    with database.session() as s:
        case = create_case(s, next_case_ref(s, "BE", year), triage(documents=documents),
                           "Compassionate Use – UZ Leuven – J.D.", sender)
        message = add_message(s, case, None, parsed(message_id, sender), triage(), "request")
        add_documents(s, case, message, documents)
    return case


def test_references_count_per_year(database: Database) -> None:
    with database.session() as s:
        refs = [next_case_ref(s, "BE", 2025) for _ in range(3)]
        refs.append(next_case_ref(s, "BE", 2026))
        refs.append(next_case_ref(s, "FR", 2025, "{prefix}/{year}/{seq}"))
    assert refs == ["BE-2025-000001", "BE-2025-000002", "BE-2025-000003", "BE-2026-000001",
                    "FR/2025/4"]


def test_a_rolled_back_reference_is_handed_out_again(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as s:
        next_case_ref(s, "BE", 2025)
        raise RuntimeError("filing failed")
    with database.session() as s:
        assert next_case_ref(s, "BE", 2025) == "BE-2025-000001"  # no gap


def test_a_bad_reference_format_is_a_storage_error(database: Database) -> None:
    with pytest.raises(StorageError, match="bad case reference format"), database.session() as s:
        next_case_ref(s, "BE", 2025, "{prefix}-{number}")


def test_concurrent_writers_get_distinct_consecutive_references(database: Database) -> None:
    refs: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer() -> None:
        barrier.wait()
        try:
            for _ in range(50):
                with database.session() as s:
                    ref = next_case_ref(s, "BE", 2025)
                    time.sleep(0.001)  # hold the transaction open so that writers overlap
                    create_case(s, ref, triage(), "subject", APPLICANT)
                refs.append(ref)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(refs) == [f"BE-2025-{n:06d}" for n in range(1, 101)]
    with database.session() as s:
        assert len(list_cases(s)) == 100


def test_create_case_takes_the_triage_decisions(database: Database) -> None:
    with database.session() as s:
        case = create_case(s, "BE-2025-000001",
                           triage(urgent=True, items=checklist(form_part1="present")),
                           "Compassionate Use – UZ Leuven – J.D.",
                           " Regulatory@CardioFlow.example ")
    assert (case.authority, case.request_type, case.regulation, case.language) == (
        "famhp", "compassionate_use", "MDR", "fr")
    assert (case.status, case.urgent, case.urgent_reasons) == ("complete", True, ["body: 'urgent'"])
    assert case.applicant_email == APPLICANT
    assert case.rules_version == "rules-v1"
    assert case.triage["request_type"] == {"value": "compassionate_use",
                                           "reasons": ["subject: Compassionate Use"]}
    assert case.triage["complete"] is True


def test_case_by_ref_ignores_letter_case(database: Database) -> None:
    file_request(database, "req-1@hospital.example")
    with database.session() as s:
        found = case_by_ref(s, " be-2025-000001 ")
        assert found is not None and found.ref == "BE-2025-000001"
        assert case_by_ref(s, "BE-2025-000999") is None


def test_a_reply_is_threaded_by_the_ids_of_messages_in_and_out(
    database: Database, blobs: BlobStore
) -> None:
    case = file_request(database, "req-1@hospital.example")
    with database.session() as s:
        outbox_add(s, case=case, case_message=None, message_id="<ack-1@famhp.example>",
                   recipient=APPLICANT, subject="Re: request", kind="ack_incomplete",
                   raw=b"...", held=False)
    with database.session() as s:
        by_request = case_by_message_ids(s, ["<unknown@x>", "req-1@hospital.example"])
        by_ack = case_by_message_ids(s, ["ack-1@famhp.example"])
        assert by_request is not None and by_request.ref == case.ref
        assert by_ack is not None and by_ack.ref == case.ref
        assert case_by_message_ids(s, ["nothing@x"]) is None
        assert case_by_message_ids(s, []) is None


def test_open_cases_of_a_sender_newest_first(database: Database) -> None:
    older = file_request(database, "req-1@hospital.example")
    newer = file_request(database, "req-2@hospital.example")
    closed = file_request(database, "req-3@hospital.example")
    file_request(database, "req-4@other.example", sender="someone@other.example")
    with database.session() as s:
        set_status(s, closed, "closed", "reviewer@famhp.example", "granted by letter")
    with database.session() as s:
        refs = [c.ref for c in open_cases_for_sender(s, "REGULATORY@cardioflow.example")]
    assert refs == [newer.ref, older.ref]


def test_a_colleague_writing_about_a_case_counts_as_its_sender(database: Database) -> None:
    case = file_request(database, "req-1@hospital.example")
    with database.session() as s:
        add_message(s, case, None, parsed("fu-1@hospital.example", "colleague@hospital.example"),
                    triage("follow_up"), "follow_up")
    with database.session() as s:
        assert [c.ref for c in open_cases_for_sender(s, "colleague@hospital.example")] == [case.ref]


def test_a_resubmission_of_the_same_attachments_is_found(database: Database) -> None:
    case = file_request(database, "req-1@hospital.example", documents=(PART1, PART2))
    with database.session() as s:
        twin = case_has_document_hashes(s, APPLICANT, {PART1.sha256, PART2.sha256})
        assert twin is not None and twin.ref == case.ref
        assert case_has_document_hashes(s, APPLICANT, {PART1.sha256}) is not None
        new_file = document("ifu.pdf", b"%PDF-1.7 ifu").sha256
        assert case_has_document_hashes(s, APPLICANT, {PART1.sha256, new_file}) is None
        assert case_has_document_hashes(s, "someone@other.example", {PART1.sha256}) is None
        assert case_has_document_hashes(s, APPLICANT, set()) is None


def test_a_message_is_filed_once(database: Database, blobs: BlobStore) -> None:
    case = file_request(database, "req-1@hospital.example")
    with database.session() as s:
        row = ledger_record(s, raw(9, eml("fu-1@hospital.example")), "fu-1@hospital.example",
                            blobs)
        add_message(s, case, row, parsed("fu-1@hospital.example"), triage("follow_up"),
                    "follow_up")
    with pytest.raises(StorageError), database.session() as s:
        add_message(s, case, row, parsed("fu-1@hospital.example"), triage("follow_up"),
                    "follow_up")


def test_add_message_keeps_the_headers(database: Database) -> None:
    case = file_request(database, "req-1@hospital.example")
    with database.session() as s:
        msg = add_message(s, case, None,
                          parsed("fu-1@hospital.example", in_reply_to=("<ack-1@famhp.example>",),
                                 references=("req-1@hospital.example", "ack-1@famhp.example")),
                          triage("follow_up", language="nl"), "follow_up")
    assert msg.in_reply_to == ["ack-1@famhp.example"]
    assert msg.references == ["req-1@hospital.example", "ack-1@famhp.example"]
    assert (msg.kind, msg.role, msg.language, msg.sender) == (
        "follow_up", "follow_up", "nl", APPLICANT)
    with pytest.raises(StorageError, match="unknown message role"), database.session() as s:
        add_message(s, case, None, parsed("x@y"), triage(), "spam")


def test_checklist_upsert_reports_what_changed(database: Database) -> None:
    case = file_request(database, "req-1@hospital.example")
    with database.session() as s:
        first = set_checklist(s, case, checklist(form_part1="present", form_part2="missing"))
    assert first == [("form_part1", "", "present"), ("form_part2", "", "missing")]
    with database.session() as s:
        second = set_checklist(s, case, checklist(form_part1="present", form_part2="present",
                                                  justification="unclear"))
    assert second == [("form_part2", "missing", "present"), ("justification", "", "unclear")]
    with database.session() as s:
        assert set_checklist(s, case, checklist(form_part2="present")) == []
        items = [(i.item_id, i.status, i.evidence) for i in case_checklist(s, case)]
    assert items == [("form_part1", "present", "form_part1: present"),
                     ("form_part2", "present", "form_part2: present"),
                     ("justification", "unclear", "justification: unclear")]


def test_a_follow_up_widens_the_recorded_state_without_forgetting(database: Database) -> None:
    case = file_request(database, "req-1@hospital.example")
    later = triage("follow_up", language="en", request_type=None, regulation="IVDR", urgent=True,
                   rules_version="rules-v2")
    with database.session() as s:
        add_message(s, case, None, parsed("fu-1@hospital.example"), later, "follow_up")
        state = stored_case_state(s, case, profile_rules())
        record_case_state(s, case, state, "intake", triage_to_dict(later))
    with database.session() as s:
        stored = case_by_ref(s, case.ref)
    assert stored is not None
    # The first request type and language stick; the newest stated regulation stands.
    assert (stored.request_type, stored.regulation, stored.language) == (
        "compassionate_use", "IVDR", "fr")
    assert (stored.status, stored.urgent, stored.rules_version) == ("incomplete", True, "rules-v2")
    assert stored.triage["kind"] == "follow_up"
    assert stored.triage["missing"] == list(state.missing)


def test_set_status_is_audited(database: Database) -> None:
    case = file_request(database, "req-1@hospital.example")
    with database.session() as s:
        set_status(s, case, "granted", "reviewer@famhp.example", "authorised for one patient")
    with database.session() as s:
        stored = case_by_ref(s, case.ref)
        assert stored is not None and stored.status == "granted"
        events = [(e.actor, e.action, e.detail) for e in case_events(s, case)]
    assert events == [("reviewer@famhp.example", "status_changed",
                       {"from": "incomplete", "to": "granted",
                        "note": "authorised for one patient", "decision": True})]
    with pytest.raises(StorageError, match="unknown case status"), database.session() as s:
        set_status(s, case, "pending-review", "reviewer@famhp.example", "no such status")


def test_list_cases_by_status(database: Database) -> None:
    first = file_request(database, "req-1@hospital.example")
    file_request(database, "req-2@hospital.example")
    with database.session() as s:
        set_status(s, first, "withdrawn", "reviewer@famhp.example", "applicant withdrew")
    with database.session() as s:
        assert [c.ref for c in list_cases(s, status="withdrawn")] == [first.ref]
        assert len(list_cases(s)) == 2


def test_nul_characters_from_broken_files_are_stored_on_every_database(
    database: Database,
) -> None:
    result = triage(fields=(field("device_name", "Cardio\x00Flow", doc=PART1),))
    with database.session() as s:
        case = create_case(s, "BE-2025-000001", result, "Subject\x00with NUL", APPLICANT)
        msg = add_message(s, case, None, parsed("req-1@hospital.example",
                                                subject="Subject\x00with NUL"), result, "request")
        docs = add_documents(s, case, msg, (PART1,))
        record_values(s, case, msg, result.all_fields, {d.sha256: d for d in docs})
        add_event(s, case, "intake", "message_filed", {"subject": "Subject\x00with NUL"})
    with database.session() as s:
        stored = case_by_ref(s, case.ref)
        assert stored is not None
        assert stored.subject == "Subject\ufffdwith NUL"
        assert stored.triage["fields"] == {"device_name": "Cardio\ufffdFlow"}
        assert current_fields(s, stored)["device_name"].value == "Cardio\ufffdFlow"
        assert case_events(s, stored)[0].detail == {"subject": "Subject\ufffdwith NUL"}


def test_a_date_header_beyond_the_calendar_is_dropped(database: Database) -> None:
    case = file_request(database, "req-1@hospital.example")
    ancient = replace(parsed("fu-1@hospital.example"),
                      date=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    with database.session() as s:
        msg = add_message(s, case, None, ancient, triage("follow_up"), "follow_up")
    assert msg.sent_at is None


def test_the_parts_of_a_file_are_kept_and_counted_when_the_case_is_checked_again(
        database: Database) -> None:
    both = replace(document("request.pdf", b"%PDF-1.7 parts one and two"), pages=4, parts=(
        DocumentPart("form_part1", "famhp.kind.form_part1", "pages 1-2", 1, 2),
        DocumentPart("form_part2", "famhp.kind.form_part2", "pages 3-4", 3, 4)))
    case = file_request(database, "req-1@hospital.example", documents=(both,))
    with database.session() as s:
        add_message(s, case, None, parsed("fu-1@hospital.example"), triage("follow_up"),
                    "follow_up")
        state = stored_case_state(s, case, profile_rules())
    (stored,) = state.documents
    assert stored.parts == both.parts
    items = {item.id: item for item in state.checklist}
    assert items["form_part2"].status == "present"
    assert "request.pdf" in items["form_part2"].evidence
    assert "pages 3-4" in items["form_part2"].evidence
