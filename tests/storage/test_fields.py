"""Field values keep their provenance; a new differing value supersedes, nothing is lost."""

from __future__ import annotations

from storage.cases import create_case
from storage.db import Database
from storage.events import case_events
from storage.fields import current_fields, field_history, set_reviewer_field
from storage.messages import add_documents, add_message
from storage.models import Case, CaseMessage, Document
from tests.storage.factories import document, field, parsed, record_values, triage

PART1 = document("part1.pdf", b"%PDF-1.7 part one")
REVISED = document("part1-v2.pdf", b"%PDF-1.7 part one, revised")


def filed(database: Database) -> tuple[Case, CaseMessage, dict[str, Document]]:
    """File a request with PART1 and REVISED; return the case, message and documents."""
    with database.session() as s:
        case = create_case(s, "BE-2025-000001", triage(), "subject", None)
        msg = add_message(s, case, None, parsed("req-1@hospital.example"), triage(), "request")
        rows = add_documents(s, case, msg, (PART1, REVISED))
    return case, msg, {d.sha256: d for d in rows}


def test_a_value_keeps_where_it_was_found(database: Database) -> None:
    case, msg, by_sha = filed(database)
    with database.session() as s:
        record_values(s, case, msg, [field("device_name", "CardioFlow", doc=PART1, page=2)], by_sha)
        current = current_fields(s, case)["device_name"]
    assert current.value == "CardioFlow"
    assert current.document_id == by_sha[PART1.sha256].id
    assert current.case_message_id == msg.id
    assert current.source == {"filename": "part1.pdf", "sha256": PART1.sha256,
                              "channel": "acroform", "page": 2, "form_field": "Text1"}
    assert current.source_text == "part1.pdf p.2 field Text1"
    assert (current.rule, current.confidence, current.origin) == (
        "famhp.label.device_name#0", 0.9, "extracted")


def test_a_differing_value_supersedes_and_both_are_kept(database: Database) -> None:
    case, msg, by_sha = filed(database)
    with database.session() as s:
        record_values(s, case, msg, [field("quantity", "2", doc=PART1)], by_sha)
    with database.session() as s:
        record_values(s, case, msg, [field("quantity", "3", doc=REVISED)], by_sha)
    with database.session() as s:
        history = field_history(s, case, "quantity")
        assert current_fields(s, case)["quantity"].value == "3"
    old, new = history
    assert (old.value, old.superseded_by) == ("2", new.id)
    assert (new.value, new.superseded_by) == ("3", None)


def test_the_same_value_again_adds_nothing(database: Database) -> None:
    case, msg, by_sha = filed(database)
    with database.session() as s:
        record_values(s, case, msg, [field("regulation", "MDR", doc=PART1)], by_sha)
        again = record_values(s, case, msg, [field("regulation", "MDR", doc=REVISED)], by_sha)
        assert again == []
        assert len(field_history(s, case, "regulation")) == 1


def test_among_candidates_of_one_message_the_most_confident_wins(database: Database) -> None:
    case, msg, by_sha = filed(database)
    candidates = [field("device_name", "Cardio", doc=PART1, confidence=0.5, form_field=None),
                  field("device_name", "CardioFlow", doc=PART1, confidence=0.95),
                  field("device_name", "CardioFlow X", doc=REVISED, confidence=0.7)]
    with database.session() as s:
        record_values(s, case, msg, candidates, by_sha)
    with database.session() as s:
        current = current_fields(s, case)["device_name"]
        history = field_history(s, case, "device_name")
    assert current.value == "CardioFlow"
    alternatives = {r.value: r.superseded_by for r in history if r.id != current.id}
    assert alternatives == {"Cardio": current.id, "CardioFlow X": current.id}
    with database.session() as s:  # the same message filed again adds no noise
        assert record_values(s, case, msg, candidates, by_sha) == []


def test_a_reviewer_value_wins_and_extraction_goes_on_beneath_it(database: Database) -> None:
    case, msg, by_sha = filed(database)
    with database.session() as s:
        record_values(s, case, msg, [field("risk_class", "IIa", doc=PART1)], by_sha)
        set_reviewer_field(s, case, "risk_class", "IIb", "reviewer@famhp.example")
    with database.session() as s:
        record_values(s, case, msg, [field("risk_class", "III", doc=REVISED)], by_sha)
    with database.session() as s:
        current = current_fields(s, case)["risk_class"]
        values = [(r.value, r.origin, r.superseded_by is None)
                  for r in field_history(s, case, "risk_class")]
        events = [(e.action, e.detail) for e in case_events(s, case)]
    assert (current.value, current.origin, current.actor) == (
        "IIb", "reviewer", "reviewer@famhp.example")
    assert values == [("IIa", "extracted", False), ("IIb", "reviewer", True),
                      ("III", "extracted", True)]
    assert events == [("field_set", {"key": "risk_class", "old": "IIa", "new": "IIb"})]


def test_a_second_reviewer_value_supersedes_the_first(database: Database) -> None:
    case, _, _ = filed(database)
    with database.session() as s:
        first = set_reviewer_field(s, case, "patient_reference", "J.D.", "anna@famhp.example")
        second = set_reviewer_field(s, case, "patient_reference", "J.De.", "ben@famhp.example")
    with database.session() as s:
        assert current_fields(s, case)["patient_reference"].id == second.id
        assert [r.superseded_by for r in field_history(s, case)] == [second.id, None]
    assert first.id != second.id


def test_body_fields_have_no_document(database: Database) -> None:
    case, _, by_sha = filed(database)
    with database.session() as s:
        record_values(s, case, None, [field("contact_phone", "+32 2 123 45 67")], by_sha)
        current = current_fields(s, case)["contact_phone"]
    assert (current.document_id, current.case_message_id) == (None, None)
    assert current.source == {"channel": "body", "line": 3}
