"""The `triage --json` object has the contract's shape; the text report shows the reasons."""

from __future__ import annotations

import json
from typing import Any

from parsers.records import ParsedMessage
from tests.triage.builders import document, extraction, field, mail, profile_rules, signature
from triage.engine import triage_message
from triage.output import triage_to_json, triage_to_text
from triage.records import TriageResult

RULES = profile_rules()
CONTRACT_KEYS = ["message_id", "sender", "subject", "language", "kind", "case_ref", "authority",
                 "request_type", "regulation", "fields", "documents", "checklist", "missing",
                 "complete", "urgent", "would_acknowledge", "reasons"]


def request() -> tuple[ParsedMessage, TriageResult]:
    """A Dutch compassionate-use request with Part 1 only, planned use in a week."""
    parsed = mail("Compassionate Use – UZ Leuven – J.D.",
                  "Geachte, in bijlage vindt u onze aanvraag voor gebruik in schrijnende "
                  "gevallen voor een patiënt van ons ziekenhuis. Met vriendelijke groeten.")
    part1 = document("form_part1", "part1.pdf", (
        field("device_name", "CardioFlow"), field("device_model", "CF-2"),
        field("applicant_role", "manufacturer"), field("regulation", "MDR"),
        field("intended_use_date", "2026-03-09")))
    part2 = document("form_part2", "part2.pdf", signatures=(signature("part2.pdf", False),),
                     error=None)
    return parsed, triage_message(parsed, extraction(part1, part2), RULES, "famhp")


def test_the_json_object_has_exactly_the_contract_keys() -> None:
    parsed, result = request()
    shown: dict[str, Any] = triage_to_json(parsed, result)
    assert list(shown) == CONTRACT_KEYS
    json.dumps(shown)  # serialisable as is
    assert shown["message_id"] == "m1@hospital.be"
    assert shown["sender"] == "jane@hospital.be"
    assert shown["language"] == "nl"
    assert shown["kind"] == "new_request"
    assert shown["authority"] == "famhp"
    assert shown["request_type"] == "compassionate_use"
    assert shown["regulation"] == "MDR"
    assert shown["urgent"] is True
    assert shown["would_acknowledge"] is True
    assert shown["complete"] is False
    assert shown["missing"] == ["physician_signature", "justification"]
    assert list(shown["reasons"]) == ["kind", "language", "request_type", "regulation",
                                      "urgent"]


def test_a_field_shows_its_source_without_null_keys() -> None:
    parsed, result = request()
    shown: dict[str, Any] = triage_to_json(parsed, result)
    device = shown["fields"]["device_name"]
    assert device == {"value": "CardioFlow",
                      "source": {"filename": "part1.pdf", "sha256": "ab" * 32,
                                 "channel": "acroform", "page": 1, "form_field": "Text1",
                                 "text": "part1.pdf p.1 field Text1"},
                      "rule": "famhp.label.device_name#0", "confidence": 0.9}
    assert shown["documents"][0] == {
        "filename": "part1.pdf", "sha256": "cd" * 32, "kind": "form_part1", "pages": 2,
        "error": None, "parts": []}
    assert shown["checklist"][0] == {
        "id": "form_part1", "severity": "required", "status": "present",
        "evidence": "part1.pdf"}


def test_the_text_report_shows_decisions_checklist_and_reasons() -> None:
    parsed, result = request()
    text = triage_to_text(parsed, result)
    assert "Kind:         new_request" in text
    assert "Request type: compassionate_use" in text
    assert "  device_name: CardioFlow  [part1.pdf p.1 field Text1; famhp.label.device_name#0; "\
           "0.90]" in text
    assert "  ✓ form_part1 (required): part1.pdf" in text
    assert "  ✗ physician_signature (required): part2.pdf: signature field 'Signature1' not "\
           "signed" in text
    assert "Missing: physician_signature, justification" in text
    assert "    - urgency.date: intended_use_date 2026-03-09 is 7 days after the message" in text


def test_automated_mail_is_reported_and_never_acknowledged() -> None:
    parsed = mail("Automatic reply: Compassionate Use", "I am out of the office.",
                  extra="Auto-Submitted: auto-replied")
    result = triage_message(parsed, extraction(), RULES, "famhp")
    shown = triage_to_json(parsed, result)
    assert shown["kind"] == "automated"
    assert shown["would_acknowledge"] is False
    assert shown["checklist"] == [] and shown["complete"] is False
    assert "Acknowledge:  no" in triage_to_text(parsed, result)
