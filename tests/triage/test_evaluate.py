"""The measures `rules eval` prints: precision/recall per field, accuracy per attribute, changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from triage.evaluate import (
    FieldCounts,
    FileScore,
    baseline_from_json,
    baseline_to_json,
    case_references,
    compare,
    correction_scores,
    failed,
    follow_order,
    improvements,
    misses,
    precision_recall,
    regressions,
    same_value,
    score_changes,
)

FORM: dict[str, Any] = {"document_kind": "form_part1", "language": "en",
        "fields": {"device_name": "CardioFlow", "device_model": "CF-2", "quantity": "2"}}


def test_a_value_counts_as_right_when_equal_after_case_and_spacing() -> None:
    assert same_value("Valvia  Cardio Ltd", "valvia cardio ltd")
    assert same_value("Ce\u0301line", "Céline")  # one letter, two Unicode spellings
    assert not same_value("PVJ-18", "PVJ-180")


def test_compare_sorts_each_field_into_correct_wrong_missed_or_extra() -> None:
    actual = {"document_kind": "form_part1", "language": "fr",
              "fields": {"device_name": "cardioflow", "device_model": "CF-3",
                         "udi_di": "0123"}}
    score = compare(FORM, actual)
    assert {k: o.status for k, o in score.fields.items()} == {
        "device_name": "correct", "device_model": "wrong", "quantity": "missed",
        "udi_di": "extra"}
    assert score.attributes["document_kind"].ok
    assert not score.attributes["language"].ok
    assert (score.attributes["language"].expected, score.attributes["language"].actual) == (
        "en", "fr")


def test_the_triage_json_shape_of_fields_is_an_excerpt() -> None:
    # Only the keys written are judged; null says "this file holds no such value".
    expected = {"fields": {"device_name": {"value": "CardioFlow", "rule": "x"},
                           "device_model": {"value": None}}}
    score = compare(expected, {"fields": {"device_name": "CardioFlow", "quantity": "2",
                                          "device_model": "Catalogue number"}})
    assert {k: o.status for k, o in score.fields.items()} == {
        "device_name": "correct", "device_model": "extra"}


def test_the_form_shape_of_fields_is_the_whole_record() -> None:
    expected = {"fields": {"device_model": None, "device_name": "AortaFlex TBE"}}
    found = compare(expected, {"fields": {"device_name": "AortaFlex TBE",
                                          "device_model": "Catalogue number", "udi_di": "0"}})
    assert {k: o.status for k, o in found.fields.items()} == {
        "device_name": "correct", "device_model": "extra", "udi_di": "extra"}
    assert compare(expected, {"fields": {}}).fields["device_name"].status == "missed"
    assert "device_model" not in compare(expected, {"fields": {}}).fields


def test_missing_items_are_compared_as_a_set_and_unlabelled_attributes_are_not_scored() -> None:
    expected = {"kind": "new_request", "missing": ["form_part2", "justification"]}
    score = compare(expected, {"kind": "new_request", "request_type": "compassionate_use",
                               "missing": ["justification", "form_part2"]})
    assert set(score.attributes) == {"kind", "missing"}
    assert all(o.ok for o in score.attributes.values())
    assert score.fields == {}  # no "fields" label: fields are not scored


def test_precision_and_recall_add_up_over_files() -> None:
    right = compare(FORM, FORM)
    half = compare(FORM, {"fields": {"device_name": "CardioFlow", "device_model": "CF-9"}})
    totals = precision_recall([right, half])
    model = totals.fields["device_model"]
    assert (model.correct, model.wrong, model.missed, model.extra) == (1, 1, 0, 0)
    assert (model.precision, model.recall) == (0.5, 0.5)
    quantity = totals.fields["quantity"]
    assert (quantity.found, quantity.expected, quantity.precision, quantity.recall) == (
        1, 2, 1.0, 0.5)
    assert totals.all_fields() == FieldCounts(correct=4, wrong=1, missed=1, extra=0)
    assert (totals.attributes["document_kind"].right, totals.attributes["document_kind"].total) \
        == (1, 2)
    assert totals.files == 2


def test_nothing_found_has_no_precision_rather_than_zero() -> None:
    counts = FieldCounts(missed=3)
    assert (counts.precision, counts.recall) == (None, 0.0)


def test_an_unreadable_file_misses_everything_it_labels() -> None:
    score = failed(FORM, "encrypted")
    assert {o.status for o in score.fields.values()} == {"missed"}
    assert not any(o.ok for o in score.attributes.values())
    assert misses("part1", score)[0] == "part1: could not be read (encrypted)"


def test_misses_say_what_to_look_at() -> None:
    score = compare({"kind": "enquiry", "fields": {"device_name": "X", "quantity": "2"}},
                    {"kind": "other", "fields": {"quantity": "3"}})
    assert misses("enq_en", score) == [
        "enq_en: device_name missed (expected 'X')",
        "enq_en: quantity wrong: '3' (expected '2')",
        "enq_en: kind expected 'enquiry', got 'other'",
    ]


def test_a_lost_field_and_a_newly_wrong_attribute_are_regressions() -> None:
    before = {"a": compare(FORM, FORM), "b": compare(FORM, FORM)}
    after = {"a": compare(FORM, {**FORM, "fields": {"device_model": "CF-2", "quantity": "2"}}),
             "b": compare(FORM, {**FORM, "language": "nl"})}
    assert [c.describe() for c in regressions(before, after)] == [
        "a: device_name lost: not found (was 'CardioFlow')",
        "b: language now wrong: 'nl' (expected 'en', was right)",
    ]
    assert [c.describe() for c in improvements(after, before)] == [
        "a: device_name gained: 'CardioFlow' (was not found)",
        "b: language now right: 'en' (was 'nl')",
    ]


def test_a_new_unexpected_value_is_a_regression_and_files_only_in_one_run_are_not() -> None:
    before = {"a": compare(FORM, FORM), "gone": compare(FORM, FORM)}
    after = {"a": compare(FORM, {**FORM, "fields": {**FORM["fields"], "udi_di": "0"}}),
             "new": compare(FORM, {})}
    assert [c.describe() for c in regressions(before, after)] == [
        "a: udi_di unexpected value '0'"]


def test_nothing_moved_means_no_changes() -> None:
    same = {"a": compare(FORM, FORM)}
    assert regressions(same, same) == [] and improvements(same, same) == []
    assert score_changes(precision_recall(same.values()), precision_recall(same.values())) == []


def test_score_changes_name_the_measures_that_moved() -> None:
    before = precision_recall([compare(FORM, {**FORM, "fields": {"quantity": "2"}})])
    after = precision_recall([compare(FORM, FORM)])
    assert score_changes(before, after) == [
        "device_model precision - -> 1.000", "device_model recall 0.000 -> 1.000",
        "device_name precision - -> 1.000", "device_name recall 0.000 -> 1.000"]


def test_a_baseline_survives_a_round_trip_through_json() -> None:
    scores = {"part1": compare(FORM, {**FORM, "language": "fr"}), "x": failed(FORM, "broken")}
    text = json.dumps(baseline_to_json(scores, profile="famhp", rules_version="abc"))
    data = json.loads(text)
    assert (data["profile"], data["rules_version"]) == ("famhp", "abc")
    assert baseline_from_json(data) == scores


@pytest.mark.parametrize("data", [[], {"files": {}}, {"format": "other", "files": {}}])
def test_something_else_is_refused_as_a_baseline(data: object) -> None:
    with pytest.raises(ValueError, match="not a baseline file"):
        baseline_from_json(data)


def test_a_malformed_baseline_entry_is_refused() -> None:
    data = baseline_to_json({"a": compare(FORM, FORM)})
    data["files"]["a"]["fields"]["device_name"]["status"] = "great"
    with pytest.raises(ValueError, match="malformed baseline entry"):
        baseline_from_json(data)


def test_follow_ups_come_after_the_message_they_follow() -> None:
    labels = {"fu_2": {"follows": "fu_1", "case_ref": "DRG-2026-000134"},
              "fu_1": {"follows": "cu", "case_ref": "DRG-2026-000134"},
              "cu": {}, "other": {"follows": "not-here"}}
    assert follow_order(labels) == ["cu", "other", "fu_1", "fu_2"]
    assert case_references(labels) == {"cu": "DRG-2026-000134"}


def test_a_cycle_of_follows_is_taken_in_file_order() -> None:
    labels = {"a": {"follows": "b"}, "b": {"follows": "a"}}
    assert follow_order(labels) == ["a", "b"]


def test_reviewer_corrections_score_what_extraction_had() -> None:
    counts = correction_scores([
        ("device_name", "CardioFlow", "cardioflow"),  # confirmed
        ("device_name", "ValveX Pro", "Valve X"),  # corrected
        ("patient_reference", "J.D.", None),  # extraction had nothing
        ("udi_di", "", "0"),  # the reviewer removed a value that is not there
    ])
    assert counts["device_name"] == FieldCounts(correct=1, wrong=1)
    assert counts["device_name"].recall == 0.5
    assert counts["patient_reference"] == FieldCounts(missed=1)
    assert counts["udi_di"] == FieldCounts(extra=1)


def test_an_empty_run_scores_nothing() -> None:
    totals = precision_recall([])
    assert (totals.files, dict(totals.fields), dict(totals.attributes)) == (0, {}, {})
    assert precision_recall([FileScore()]).all_fields() == FieldCounts()
