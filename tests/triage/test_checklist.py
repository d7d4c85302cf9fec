"""Completeness checklists: present, missing, unclear and not applicable, with evidence."""

from __future__ import annotations

from parsers.records import ExtractedDocument, FieldValue
from tests.triage.builders import document, field, profile_rules, signature
from triage.checklist import evaluate_checklist
from triage.records import ChecklistItem

RULES = profile_rules()
SUBJECT = "Compassionate Use – UZ Leuven – J.D."


def part1(*extra: FieldValue) -> ExtractedDocument:
    """A readable Part 1 with the applicant's fields."""
    return document("form_part1", "part1.pdf", (
        field("applicant_role", "manufacturer"), field("device_name", "CardioFlow"),
        field("device_model", "CF-2"), field("regulation", "MDR"), *extra))


def part2(signed: bool | None = True) -> ExtractedDocument:
    """A readable Part 2; signed None means no signature field could be read."""
    fields = (field("patient_reference", "J.D.", "part2.pdf"),
              field("justification", "No alternative.", "part2.pdf"),
              field("signature_date", "2026-02-27", "part2.pdf"),
              field("physician_name", "Dr. A. Peeters", "part2.pdf"))
    signatures = () if signed is None else (signature("part2.pdf", signed),)
    return document("form_part2", "part2.pdf", fields, signatures=signatures)


def check(docs: list[ExtractedDocument], subject: str = SUBJECT,
          request_type: str = "compassionate_use") -> dict[str, ChecklistItem]:
    """Evaluate the checklist over the documents' fields (first value per key)."""
    fields: dict[str, FieldValue] = {}
    for doc in docs:
        for value in doc.fields:
            fields.setdefault(value.key, value)
    items = evaluate_checklist(request_type, fields, docs, subject, RULES)
    return {i.id: i for i in items}


def statuses(items: dict[str, ChecklistItem]) -> dict[str, str]:
    """Return item id -> status."""
    return {k: v.status for k, v in items.items()}


def test_a_complete_compassionate_use_request() -> None:
    items = check([part1(), part2()])
    assert statuses(items) == {
        "form_part1": "present", "form_part2": "present", "physician_signature": "present",
        "applicant_role": "present", "mandate_proof": "not_applicable",
        "device_identified": "present", "regulation_stated": "present",
        "patient_reference": "present", "justification": "present",
        "subject_convention": "present", "ifu": "missing", "clinical_data": "missing",
        "risk_analysis": "missing"}
    assert items["form_part1"].evidence == "part1.pdf"
    assert items["device_identified"].evidence == ("device_name from part1.pdf p.1 field Text1; "
                                                   "device_model from part1.pdf p.1 field Text1")
    assert items["physician_signature"].evidence == ("part2.pdf p.2 field Signature1: signature "
                                                     "'Signature1' is signed")
    assert items["mandate_proof"].evidence == ("applicant_role is manufacturer (applies only "
                                               "if applicant_role == mandated_third_party)")


def test_a_missing_part2_is_reported_with_what_it_carries() -> None:
    items = check([part1()], "Compassionate Use – UZ Leuven")
    missing = [k for k, v in items.items() if v.severity == "required" and v.status != "present"
               and v.status != "not_applicable"]
    assert missing == ["form_part2", "physician_signature", "patient_reference",
                       "justification"]
    assert items["form_part2"].evidence == "no form_part2"


def test_the_initials_of_a_conventional_subject_identify_the_patient() -> None:
    items = check([part1()], "URGENT - Compassionate Use – Hôpital Erasme - H.U.B – Y.A.")
    assert items["patient_reference"].status == "present"
    assert items["patient_reference"].evidence == "subject follows the convention"
    assert check([part1()], "Compassionate Use – AZ Sint-Jan Brugge")[
        "patient_reference"].status == "missing"


def test_an_unreadable_part2_is_unclear() -> None:
    broken = document("form_part2", "part2.pdf", error="encrypted")
    items = check([part1(), broken])
    assert items["form_part2"].status == "unclear"
    assert items["form_part2"].evidence == "part2.pdf could not be read (encrypted)"
    assert items["physician_signature"].status == "unclear"


def test_an_unsigned_signature_field_is_missing_despite_a_typed_date_and_name() -> None:
    items = check([part1(), part2(signed=False)])
    assert items["physician_signature"].status == "missing"
    assert items["physician_signature"].evidence == ("part2.pdf: signature field 'Signature1' "
                                                     "not signed")


def test_date_and_physician_name_count_where_no_signature_could_be_read() -> None:
    items = check([part1(), part2(signed=None)])
    assert items["physician_signature"].status == "present"
    assert items["physician_signature"].evidence == ("part2.pdf: signature_date 2026-02-27, "
                                                     "physician_name Dr. A. Peeters")


def test_a_mandated_third_party_must_send_the_mandate() -> None:
    role = field("applicant_role", "mandated_third_party", "part1.pdf", confidence=0.99)
    items = check([document("form_part1", "part1.pdf", (role,))])
    assert items["mandate_proof"].status == "missing"
    assert items["mandate_proof"].evidence == "no mandate"
    with_mandate = check([document("form_part1", "part1.pdf", (role,)),
                          document("mandate", "contract.pdf")])
    assert with_mandate["mandate_proof"].status == "present"
    assert with_mandate["mandate_proof"].evidence == "contract.pdf"


def test_the_device_needs_a_model_or_a_reference() -> None:
    doc = document("form_part1", "part1.pdf", (field("device_name", "CardioFlow"),))
    items = check([doc])
    assert items["device_identified"].status == "missing"
    assert items["device_identified"].evidence == "no device_model or device_reference"


def test_the_subject_convention_accepts_any_dash_and_reply_prefixes() -> None:
    for subject in ["Compassionate Use - AZ Groeninge - M.V.",
                    "RE: Compassionate use — CHU Liège — AB",
                    "compassionate use –UZ Gent– K.L."]:
        assert check([part1()], subject)["subject_convention"].status == "present", subject
    wrong = check([part1()], "Request for compassionate use")["subject_convention"]
    assert wrong.status == "missing"
    assert wrong.severity == "advisory"


def test_a_national_derogation_needs_quantity_and_period() -> None:
    form = document("national_form", "form.pdf", (
        field("applicant_role", "authorised_representative", "form.pdf"),
        field("device_name", "FlowGuard ND", "form.pdf"),
        field("device_reference", "FGN-45020", "form.pdf"),
        field("regulation", "MDR", "form.pdf"), field("justification", "None.", "form.pdf"),
        field("quantity", "12", "form.pdf")))
    items = check([form], "Derogation", "national_derogation")
    assert items["scope"].status == "missing"
    assert items["scope"].evidence == "no period"
    assert [k for k, v in items.items() if v.status == "missing"
            and v.severity == "required"] == ["scope"]


def test_an_unknown_request_type_has_no_checklist() -> None:
    assert evaluate_checklist("global_derogation", {}, [], "", RULES) == ()


# --- scanned documents that OCR could not read well ------------------------------------------


def _badly_read(doc: ExtractedDocument, page: int = 1) -> ExtractedDocument:
    """The document with one page OCR read with a low confidence."""
    from dataclasses import replace

    from parsers.records import PageProblem

    problem = PageProblem(page, "ocr_low_confidence",
                          "read from a scan with low OCR confidence (mean 41%)")
    return replace(doc, page_problems=(problem,))


def test_items_that_could_be_on_a_badly_read_page_are_unclear_not_missing() -> None:
    scan = _badly_read(document("other", "scan.pdf"))
    items = check([part1(), scan])
    for item_id in ("form_part2", "physician_signature", "justification"):
        assert items[item_id].status == "unclear", items[item_id]
        assert "scan.pdf p.1 read from a scan with low OCR confidence" in items[item_id].evidence
    assert items["form_part1"].status == "present"
    assert items["subject_convention"].status == "present"


def test_a_value_read_from_a_badly_read_page_leaves_its_item_unclear() -> None:
    from dataclasses import replace

    doc = part2()
    doc = replace(doc, fields=tuple(replace(f, source=replace(f.source, sha256=doc.sha256))
                                    for f in doc.fields))
    items = check([part1(), _badly_read(doc)])
    assert items["justification"].status == "unclear"
    assert "could not read well" in items["justification"].evidence
    # The subject line names the patient too: that way needs no scan.
    assert items["patient_reference"].status == "present"


def test_without_page_problems_a_scanned_request_is_judged_as_any_other() -> None:
    items = check([part1(), part2()])
    assert all(i.status in ("present", "not_applicable") for i in items.values()
               if i.severity == "required")
