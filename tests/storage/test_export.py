"""A case exports as JSON with stable keys: what a reviewer or a report sees."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from storage.blobs import BlobStore
from storage.cases import create_case, next_case_ref, set_checklist
from storage.db import Database
from storage.events import add_event
from storage.export import case_to_dict
from storage.fields import set_reviewer_field
from storage.ledger import ledger_record
from storage.messages import add_documents, add_message
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

PART1 = document("part1.pdf", b"%PDF-1.7 part one")


def test_case_to_dict_holds_the_whole_case(database: Database, blobs: BlobStore) -> None:
    result = triage(fields=(field("device_name", "CardioFlow", doc=PART1),), documents=(PART1,),
                    items=checklist(form_part1="present", form_part2="missing"))
    with database.session() as s:
        row = ledger_record(s, raw(7, eml("req-1@hospital.example")), "req-1@hospital.example",
                            blobs)
        case = create_case(s, next_case_ref(s, "BE", 2025), result,
                           "Compassionate Use – UZ Leuven – J.D.", APPLICANT)
        msg = add_message(s, case, row, parsed("req-1@hospital.example"), result, "request")
        docs = add_documents(s, case, msg, result.documents)
        record_values(s, case, msg, result.all_fields, {d.sha256: d for d in docs})
        set_checklist(s, case, result.checklist)
        set_reviewer_field(s, case, "patient_reference", "J.D.", "reviewer@famhp.example")
        add_event(s, case, "intake", "case_opened", {"kind": "new_request"})
        outbox_add(s, case=case, case_message=msg, message_id="ack-1@famhp.example",
                   recipient=APPLICANT, subject="BE-2025-000001", kind="ack_incomplete",
                   raw=b"...", held=False)
    with database.session() as s:
        exported = case_to_dict(s, case)

    assert json.loads(json.dumps(exported)) == exported  # plain JSON data
    assert list(exported) == [
        "ref", "status", "authority", "request_type", "regulation", "language", "urgent",
        "urgent_reasons", "applicant_email", "subject", "rules_version", "created_at",
        "updated_at", "triage", "fields", "documents", "checklist", "missing", "complete",
        "messages", "outgoing", "events"]
    assert exported["ref"] == "BE-2025-000001"
    assert "form_part2" in exported["missing"] and exported["complete"] is False
    assert (exported["status"], exported["request_type"], exported["regulation"]) == (
        "incomplete", "compassionate_use", "MDR")
    assert datetime.fromisoformat(exported["created_at"]).utcoffset() == timedelta(0)
    assert sorted(exported["fields"]) == ["device_name", "patient_reference"]
    device = exported["fields"]["device_name"]
    assert {k: device[k] for k in ("value", "rule", "confidence", "origin")} == {
        "value": "CardioFlow", "rule": "famhp.label.device_name#0", "confidence": 0.9,
        "origin": "extracted"}
    assert device["source"]["filename"] == "part1.pdf"
    assert exported["fields"]["patient_reference"]["origin"] == "reviewer"
    assert exported["documents"] == [{
        "filename": "part1.pdf", "sha256": PART1.sha256, "content_type": "application/pdf",
        "size": PART1.size, "kind": "form_part1", "kind_rule": "famhp.kind.form_part1#0",
        "pages": 2, "error": None, "message_id": "req-1@hospital.example",
        "signatures": [], "page_problems": []}]
    assert exported["checklist"] == [
        {"id": "form_part1", "severity": "required", "status": "present",
         "evidence": "form_part1: present"},
        {"id": "form_part2", "severity": "required", "status": "missing",
         "evidence": "form_part2: missing"}]
    assert [(m["message_id"], m["role"]) for m in exported["messages"]] == [
        ("req-1@hospital.example", "request")]
    assert [(o["message_id"], o["state"]) for o in exported["outgoing"]] == [
        ("ack-1@famhp.example", "pending")]
    assert [e["action"] for e in exported["events"]] == ["field_set", "case_opened"]
