"""The triage rule files load, and a mistake stops loading with its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.triage_rules_load import load_triage_rules

PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
FAMHP = PROFILES / "famhp" / "triage.toml"


def test_the_shipped_profiles_load() -> None:
    famhp = load_triage_rules(FAMHP)
    assert famhp.authority == "famhp"
    assert famhp.request_type.types == ("compassionate_use", "national_derogation")
    assert [i.id for i in famhp.checklists["compassionate_use"]] == [
        "form_part1", "form_part2", "physician_signature", "applicant_role", "mandate_proof",
        "device_identified", "regulation_stated", "patient_reference", "justification",
        "subject_convention", "ifu", "clinical_data", "risk_analysis"]
    assert [i.id for i in famhp.checklists["compassionate_use"] if i.severity == "advisory"] \
        == ["subject_convention", "ifu", "clinical_data", "risk_analysis"]
    assert [(i.id, i.severity) for i in famhp.checklists["national_derogation"]] == [
        ("national_form", "required"), ("applicant_role", "required"),
        ("mandate_proof", "required"), ("device_identified", "required"),
        ("regulation_stated", "required"), ("justification", "required"),
        ("scope", "required"), ("ce_marking_plan", "advisory"),
        ("institution_statement", "advisory"), ("ifu", "advisory")]
    assert famhp.urgency.days_threshold == 14
    assert famhp.case_ref.search("[DRG-2026-000123]")
    ansm = load_triage_rules(PROFILES / "ansm" / "triage.toml")
    assert ansm.request_type.types == ("individual_derogation", "global_derogation")
    assert {"validity_period", "patient_criteria"} <= {
        i.id for i in ansm.checklists["global_derogation"]}


def broken(tmp_path: Path, old: str, new: str) -> Path:
    """Write a copy of the FAMHP rule file with one edit."""
    text = FAMHP.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "triage.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """Return the 1-based line where a text first stands."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def error_of(path: Path) -> ConfigError:
    """Load the file and return the error it raises."""
    with pytest.raises(ConfigError) as caught:
        load_triage_rules(path)
    return caught.value


def test_an_unknown_checklist_item_names_its_line(tmp_path: Path) -> None:
    path = broken(tmp_path, 'id = "risk_analysis"', 'id = "risk_analyses"')
    error = error_of(path)
    assert error.path == str(path)
    assert error.line == line_of(path, "risk_analyses")
    assert error.key == "checklist.compassionate_use[12].id"
    assert "unknown checklist item 'risk_analyses'" in error.reason


def test_an_unknown_request_type_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'type = "national_derogation"\ndocuments',
                  'type = "national_exemption"\ndocuments')
    error = error_of(path)
    assert error.line == line_of(path, "national_exemption")
    assert "unknown type 'national_exemption'" in error.reason


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, "days_threshold = 14", "days_treshold = 14")
    error = error_of(path)
    assert error.key == "urgency.days_treshold"
    assert error.line == line_of(path, "days_treshold")


def test_an_unknown_key_in_a_checklist_item_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'any_document = ["mandate"]', 'any_documents = ["mandate"]')
    error = error_of(path)
    assert error.key == "checklist.compassionate_use[4].any_documents"
    assert error.line == line_of(path, "any_documents")


def test_a_bad_regular_expression_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, "pattern = 'DRG-[0-9]{4}-[0-9]{6}'", "pattern = 'DRG-([0-9]{4}'")
    error = error_of(path)
    assert error.key == "case_ref.pattern"
    assert error.line == line_of(path, "DRG-(")


def test_a_bad_pattern_in_a_rule_list_names_the_rule(tmp_path: Path) -> None:
    path = broken(tmp_path, "'unzustellbar',", "'unzustellbar[',")
    error = error_of(path)
    assert error.key == "automated.rule[15].patterns"
    assert "bad regular expression" in error.reason


def test_a_wrong_type_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, "days_threshold = 14", 'days_threshold = "14"')
    error = error_of(path)
    assert error.key == "urgency.days_threshold"
    assert error.reason == "must be a non-negative integer"


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'all_fields = ["patient_reference"]',
                  'all_fields = ["patient_ref"]')
    error = error_of(path)
    assert "unknown field 'patient_ref'" in error.reason
    assert error.line == line_of(path, "patient_ref\"")


def test_an_unknown_document_kind_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'any_document = ["ifu"]', 'any_document = ["manual"]')
    assert "unknown document kind 'manual'" in error_of(path).reason


def test_a_bad_token_pattern_is_judged_by_spacy(tmp_path: Path) -> None:
    path = broken(tmp_path, '[{LOWER = {IN = ["we", "i"]}}', '[{LOWR = {IN = ["we", "i"]}}')
    error = error_of(path)
    assert error.key == "kind.cue.patterns"
    assert error.line == line_of(path, 'id = "request-en"')
    assert "LOWR" in error.reason


def test_a_bad_condition_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'only_if = "applicant_role == mandated_third_party"',
                  'only_if = "applicant_role is mandated_third_party"')
    error = error_of(path)
    assert error.reason == "must read 'field == value' or 'field != value'"
    assert error.line == line_of(path, "applicant_role is")


def test_a_repeated_rule_id_is_refused(tmp_path: Path) -> None:
    path = broken(tmp_path, 'id = "urgent-fr"', 'id = "urgent-en"')
    assert "rule id 'urgency.urgent-en' is used twice" in error_of(path).reason


def test_automated_mail_can_never_be_acknowledged(tmp_path: Path) -> None:
    path = broken(tmp_path, 'kinds = ["new_request", "follow_up", "enquiry"]',
                  'kinds = ["new_request", "automated"]')
    assert "never acknowledged" in error_of(path).reason


def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = broken(tmp_path, "days_threshold = 14", "days_threshold = = 14")
    error = error_of(path)
    assert error.line == line_of(path, "= = 14")


def test_the_kind_of_an_unknown_reference_is_new_request_or_follow_up(tmp_path: Path) -> None:
    path = broken(tmp_path, 'unknown_case_ref_kind = "new_request"',
                  'unknown_case_ref_kind = "enquiry"')
    error = error_of(path)
    assert error.key == "kind.unknown_case_ref_kind"
    assert error.line == line_of(path, 'unknown_case_ref_kind = "enquiry"')
    follow = broken(tmp_path, 'unknown_case_ref_kind = "new_request"',
                    'unknown_case_ref_kind = "follow_up"')
    assert load_triage_rules(follow).kind.unknown_case_ref_kind == "follow_up"
