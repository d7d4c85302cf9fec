"""The extraction rule files: the shipped profiles load, and a bad file names path, line, key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.extraction_rules import (
    DOCUMENT_KINDS,
    FIELD_KEYS,
    ExtractionRules,
    load_extraction_rules,
)
from config.text import fold
from parsers.normalise import NORMALISERS

PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
FAMHP = PROFILES / "famhp" / "extraction.toml"
ANSM = PROFILES / "ansm" / "extraction.toml"

GOOD = '''profile = "test"

[fields.device_name]
normaliser = "text"
names = ['device[_ ]?name']
[fields.device_name.labels]
en = ["Name of the device", "Device name"]
fr = ["Nom du dispositif"]

[fields.quantity]
normaliser = "quantity"
[fields.quantity.labels]
en = ["Quantity"]

[[checkboxes]]
field = "applicant_role"
value = "manufacturer"
labels = ["Manufacturer"]

[[kinds]]
kind = "ifu"
priority = 10
filenames = ['ifu']

[[kinds]]
kind = "mandate"
priority = 20
phrases.en = ["Mandate"]
'''


def write(tmp_path: Path, text: str, name: str = "extraction.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_extraction_rules(path)
    return caught.value


# --- the shipped profiles ------------------------------------------------------------------


def test_famhp_profile_loads_with_a_rule_for_every_canonical_field() -> None:
    rules = load_extraction_rules(FAMHP)
    assert rules.profile == "famhp"
    assert {rule.key for rule in rules.fields} == set(FIELD_KEYS)
    # domain.md's table, plus the period that its `scope` checklist item needs.
    assert all(rule.labels for rule in rules.fields)
    assert {rule.normaliser for rule in rules.fields} <= set(NORMALISERS)


def test_famhp_labels_cover_the_four_languages_for_every_field() -> None:
    rules = load_extraction_rules(FAMHP)
    for rule in rules.fields:
        assert {label.language for label in rule.labels} == {"en", "fr", "nl", "de"}, rule.key


def test_rule_ids_name_profile_field_language_and_text() -> None:
    rules = load_extraction_rules(FAMHP)
    device = rules.field_rule("device_name")
    assert device is not None
    assert device.labels[0].id == "famhp.label.device_name.en.name-of-the-device"
    assert device.labels[0].text == "Name of the device"
    dutch = rules.label(fold("Naam van het hulpmiddel:"))
    assert dutch is not None and dutch.id == "famhp.label.device_name.nl.naam-van-het-hulpmiddel"
    assert device.names[0].id.startswith("famhp.name.device_name.")
    assert {kind.kind for kind in rules.kinds} <= set(DOCUMENT_KINDS)
    kinds = {kind.id for kind in rules.kinds}
    # The second Part 2 rule writes its own id, so the first keeps the plain one.
    assert {"famhp.kind.form_part1", "famhp.kind.form_part2",
            "famhp.kind.form_part2_by_fields"} <= kinds
    assert {box.id for box in rules.checkboxes} >= {"famhp.checkbox.regulation.mdr",
                                                    "famhp.checkbox.applicant_role.manufacturer"}


def test_ansm_profile_includes_famhp_and_replaces_some_fields() -> None:
    rules = load_extraction_rules(ANSM)
    assert rules.profile == "ansm"
    assert [p.name for p in rules.paths] == ["extraction.toml", "extraction.toml"]
    assert rules.paths[1] == FAMHP.resolve()
    applicant = rules.field_rule("applicant_name")
    device = rules.field_rule("device_name")
    assert applicant is not None and device is not None
    assert applicant.labels[0].id == "ansm.label.applicant_name.fr.operateur-de-marche"
    assert rules.label(fold("Opérateur de marché")) is not None
    # Fields it does not write are FAMHP's, ids and all.
    assert device.labels[0].id == "famhp.label.device_name.en.name-of-the-device"
    assert {kind.id.split(".")[0] for kind in rules.kinds} == {"ansm"}
    assert rules.checkboxes and rules.signatures.labels


def test_rules_are_hashable_and_equal_when_loaded_twice() -> None:
    first, second = load_extraction_rules(FAMHP), load_extraction_rules(FAMHP)
    assert isinstance(first, ExtractionRules)
    assert first == second and hash(first) == hash(second)


# --- a small valid file ----------------------------------------------------------------------


def test_a_valid_file_gives_labels_names_checkboxes_and_kinds(tmp_path: Path) -> None:
    rules = load_extraction_rules(write(tmp_path, GOOD))
    device = rules.field_rule("device_name")
    assert device is not None
    assert [(label.id, label.language) for label in device.labels] == [
        ("test.label.device_name.en.name-of-the-device", "en"),
        ("test.label.device_name.en.device-name", "en"),
        ("test.label.device_name.fr.nom-du-dispositif", "fr")]
    assert device.names[0].pattern.search("Device_Name")  # case-insensitive
    assert rules.checkboxes[0].id == "test.checkbox.applicant_role.manufacturer"
    assert [kind.id for kind in rules.kinds] == ["test.kind.ifu", "test.kind.mandate"]
    assert rules.field_rule("udi_di") is None


def test_profile_name_defaults_to_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "myagency"
    folder.mkdir()
    rules = load_extraction_rules(write(folder, GOOD.replace('profile = "test"\n', "")))
    assert rules.profile == "myagency"


# --- errors name the file, the line and the key -------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('profile = "test"', 'profile = "test"\nlables = 1'))
    error = error_of(path)
    assert (error.path, error.line, error.key) == (str(path), 2, "lables")
    assert "unknown key 'lables'" in str(error)


def test_unknown_canonical_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("[fields.quantity]", "[fields.quantiy]")
                 .replace("[fields.quantity.labels]", "[fields.quantiy.labels]"))
    error = error_of(path)
    assert error.key == "fields.quantiy" and error.line == 10
    assert "unknown canonical field 'quantiy'" in error.reason


def test_unknown_normaliser(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('normaliser = "quantity"', 'normaliser = "integer"'))
    error = error_of(path)
    assert (error.key, error.line) == ("fields.quantity.normaliser", 11)
    assert "unknown normaliser 'integer'" in error.reason


def test_bad_regular_expression(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("names = ['device[_ ]?name']", "names = ['device(name']"))
    error = error_of(path)
    assert (error.key, error.line) == ("fields.device_name.names", 5)
    assert "bad regular expression" in error.reason


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("names = ['device[_ ]?name']", "names = 'device'"))
    error = error_of(path)
    assert (error.key, error.line) == ("fields.device_name.names", 5)
    assert error.reason == "must be a list of strings"


def test_unknown_language(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('fr = ["Nom du dispositif"]', 'es = ["Nombre"]'))
    error = error_of(path)
    assert (error.key, error.line) == ("fields.device_name.labels.es", 8)


def test_one_label_may_not_mean_two_fields(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('en = ["Quantity"]', 'en = ["Device name:"]'))
    error = error_of(path)
    assert error.key == "fields.quantity.labels.en"
    assert "also a label of 'device_name'" in error.reason


def test_error_in_the_second_array_table_points_at_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('kind = "mandate"', 'kind = "contract"'))
    error = error_of(path)
    assert (error.key, error.line) == ("kinds[1].kind", 26)
    assert "unknown document kind 'contract'" in error.reason


def test_priority_must_be_an_integer(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("priority = 20", "priority = true"))
    error = error_of(path)
    assert (error.key, error.line) == ("kinds[1].priority", 27)


def test_checkbox_value_must_be_a_value_of_its_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('value = "manufacturer"', 'value = "maker"'))
    error = error_of(path)
    assert (error.key, error.line) == ("checkboxes[0].value", 17)
    assert "'maker' is not a value of applicant_role" in error.reason


def test_checkbox_for_an_unknown_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('field = "applicant_role"', 'field = "role"'))
    error = error_of(path)
    assert (error.key, error.line) == ("checkboxes[0].field", 16)


def test_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('en = ["Quantity"]', 'en = ["Quantity"'))
    error = error_of(path)
    assert error.path == str(path) and error.line is not None and error.line >= 13


def test_missing_include(tmp_path: Path) -> None:
    path = write(tmp_path, 'include = "../nowhere/extraction.toml"\n' + GOOD)
    error = error_of(path)
    assert (error.key, error.line) == ("include", 1)
    assert "included file not found" in error.reason


def test_include_reports_errors_in_the_included_file(tmp_path: Path) -> None:
    base = write(tmp_path, GOOD.replace('normaliser = "quantity"', 'normaliser = "count"'),
                 "base.toml")
    path = write(tmp_path, 'include = "base.toml"\nprofile = "child"\n', "child.toml")
    error = error_of(path)
    assert error.path == str(base.resolve()) and error.key == "fields.quantity.normaliser"


def test_including_file_replaces_a_field_and_keeps_the_others(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "base.toml")
    path = write(tmp_path, 'include = "base.toml"\nprofile = "child"\n'
                           '[fields.quantity]\nnormaliser = "quantity"\n'
                           '[fields.quantity.labels]\nfr = ["Quantité demandée"]\n',
                 "child.toml")
    rules = load_extraction_rules(path)
    quantity, device = rules.field_rule("quantity"), rules.field_rule("device_name")
    assert quantity is not None and device is not None
    assert [label.id for label in quantity.labels] == ["child.label.quantity.fr.quantite-demandee"]
    assert device.labels[0].id == "test.label.device_name.en.name-of-the-device"
    assert rules.label(fold("Quantity")) is None
    assert [kind.id for kind in rules.kinds] == ["test.kind.ifu", "test.kind.mandate"]


def test_also_names_a_known_field_with_a_regex(tmp_path: Path) -> None:
    good = GOOD.replace("names = ['device[_ ]?name']",
                        "names = ['device[_ ]?name']\nalso = { quantity = '(\\d+) units' }")
    rules = load_extraction_rules(write(tmp_path, good))
    device = rules.field_rule("device_name")
    assert device is not None
    assert [(a.id, a.key) for a in device.also] == [("test.also.device_name.quantity",
                                                     "quantity")]
    error = error_of(write(tmp_path, good.replace("also = { quantity", "also = { quantiy")))
    assert (error.key, error.line) == ("fields.device_name.also.quantiy", 6)
