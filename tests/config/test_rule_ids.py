"""Rule ids come from a rule's text (or the id its file writes), never from its position."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.extraction_rules import ExtractionRules, load_extraction_rules
from config.rule_ids import IdSource, rule_ids, slug

PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
FAMHP = PROFILES / "famhp" / "extraction.toml"

SMALL = '''profile = "test"

[fields.contact_email]
normaliser = "email"
[fields.contact_email.labels]
en = [{labels}]

[[kinds]]
kind = "ifu"
priority = 10
filenames = ['ifu']
{more}
'''


def every_id(rules: ExtractionRules) -> set[str]:
    """Every rule id of a rule set: labels, names, also, checkboxes and kinds."""
    ids = {label.id for rule in rules.fields for label in rule.labels}
    ids |= {name.id for rule in rules.fields for name in rule.names}
    ids |= {also.id for rule in rules.fields for also in rule.also}
    return ids | {box.id for box in rules.checkboxes} | {kind.id for kind in rules.kinds}


def shipped_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped FAMHP rule file with one text replaced."""
    text = FAMHP.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "famhp" / "extraction.toml"
    path.parent.mkdir()
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def small(tmp_path: Path, labels: str, more: str = "") -> Path:
    path = tmp_path / "extraction.toml"
    path.write_text(SMALL.format(labels=labels, more=more), encoding="utf-8")
    return path


def test_adding_a_label_changes_no_other_rule_id(tmp_path: Path) -> None:
    before = every_id(load_extraction_rules(FAMHP))
    # The first English label of the field, the place where a count would shift every other.
    path = shipped_with(tmp_path, 'en = ["Name of the device",',
                        'en = ["Designation of the device", "Name of the device",')
    after = every_id(load_extraction_rules(path))
    assert after - before == {"famhp.label.device_name.en.designation-of-the-device"}
    assert before - after == set()


def test_adding_a_name_pattern_and_a_checkbox_changes_no_other_rule_id(tmp_path: Path) -> None:
    before = every_id(load_extraction_rules(FAMHP))
    path = shipped_with(tmp_path, "         'handelsnaam']",
                        "         'handelsnaam', 'appellation']\n"
                        "[[checkboxes]]\nfield = \"risk_class\"\nvalue = \"III\"\n"
                        "labels = [\"Class III\"]\n")
    after = every_id(load_extraction_rules(path))
    assert after - before == {"famhp.name.device_name.appellation",
                              "famhp.checkbox.risk_class.iii"}
    assert before - after == set()


def test_a_label_may_write_its_own_id(tmp_path: Path) -> None:
    rules = load_extraction_rules(small(
        tmp_path, '"E-mail", { text = "Electronic mail address", id = "mail" }'))
    rule = rules.field_rule("contact_email")
    assert rule is not None
    assert [label.id for label in rule.labels] == ["test.label.contact_email.en.e-mail",
                                                   "test.label.contact_email.en.mail"]
    assert rules.label("electronic mail address") is not None


def test_labels_whose_slugs_meet_get_a_hash_of_their_text(tmp_path: Path) -> None:
    rules = load_extraction_rules(small(tmp_path, '"E-mail", "E mail", "Email"'))
    rule = rules.field_rule("contact_email")
    assert rule is not None
    first, second, third = (label.id for label in rule.labels)
    assert first.startswith("test.label.contact_email.en.e-mail-")
    assert second.startswith("test.label.contact_email.en.e-mail-") and first != second
    assert third == "test.label.contact_email.en.email"
    # The suffix comes from the text: the same in another file order.
    again = load_extraction_rules(small(tmp_path, '"E mail", "Email", "E-mail"'))
    moved = again.field_rule("contact_email")
    assert moved is not None
    assert [label.id for label in moved.labels] == [second, third, first]


def test_a_label_written_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_extraction_rules(small(tmp_path, '"E-mail", "E-mail"'))
    error = caught.value
    assert error.key == "fields.contact_email.labels" and error.line == 5
    assert "test.label.contact_email.en.e-mail" in error.reason and "twice" in error.reason


@pytest.mark.parametrize(("labels", "reason"), [
    ('{ text = "E-mail", id = "Mail Address" }', "an id is lower-case letters"),
    ('{ text = "E-mail", name = "mail" }', 'must be a list of labels'),
    ('{ id = "mail" }', 'must be a list of labels'),
])
def test_a_bad_label_entry_is_refused(tmp_path: Path, labels: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_extraction_rules(small(tmp_path, labels))
    assert reason in caught.value.reason
    assert caught.value.path == str(tmp_path / "extraction.toml")


def test_two_rules_of_one_kind_are_told_apart_and_a_written_id_wins(tmp_path: Path) -> None:
    second = "[[kinds]]\nkind = \"ifu\"\npriority = 5\nphrases.en = [\"Manual\"]\n"
    plain = load_extraction_rules(small(tmp_path, '"E-mail"', second))
    ids = [kind.id for kind in plain.kinds]
    assert all(i.startswith("test.kind.ifu-") for i in ids) and len(set(ids)) == 2
    named = load_extraction_rules(small(tmp_path, '"E-mail"', second.replace(
        "[[kinds]]\n", "[[kinds]]\nid = \"ifu_manual\"\n")))
    assert [kind.id for kind in named.kinds] == ["test.kind.ifu", "test.kind.ifu_manual"]


def test_slug_keeps_the_words_of_a_label_or_pattern() -> None:
    assert slug("Name of the device (trade name):") == "name-of-the-device-trade-name"
    assert slug("Qualité du demandeur") == "qualite-du-demandeur"
    assert slug("^e[_ -]?mail$") == "e-mail"
    assert slug("form_part2") == "form_part2"
    assert len(slug("word " * 40)) <= 60 and slug("word " * 40).endswith("word")


def test_a_label_without_latin_letters_gets_a_hash() -> None:
    ids = rule_ids([IdSource("p.label.device_name.en", None, "名称", "名称"),
                    IdSource("p.label.device_name.en", None, "型号", "型号")])
    assert ids[0] != ids[1] and all(len(i.rsplit(".", 1)[1]) == 6 for i in ids)
