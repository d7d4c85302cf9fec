"""`rules test` and `rules eval` as an administrator tuning the rules uses them."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from config.extraction_rules import ExtractionRules, load_extraction_rules
from intake.commands import cli
from intake.commands.rules_eval import Progress
from intake.commands.rules_probe import TextLine, near_misses
from storage.cases import create_case
from storage.db import Database
from storage.fields import set_reviewer_field
from storage.messages import add_message
from tests.storage.factories import field, parsed, record_values, triage
from triage.evaluate import baseline_from_json, precision_recall

ROOT = Path(__file__).resolve().parents[3]
PROFILES = ROOT / "config" / "profiles"
FORMS = ROOT / "tests" / "fixtures" / "forms"
MESSAGES = ROOT / "tests" / "fixtures" / "messages"
# The tuning guide's labelled forms: the fixtures written again printing the variant.
EXAMPLE = ROOT / "docs" / "example" / "labelled"
# A wording of the device's name that no label or synonym of the rules reaches: its words
# share only "device" with a label, too little to be read, so it is a near miss.
VARIANT = "Brand of the device"
# The flattened English forms print the variant; the Word form prints "Name of the device".
SUBSET = ("part1_en_flat", "national_en_flat", "part1_en_table")

Main = Callable[[Sequence[str]], int]


@pytest.fixture
def intake_main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Main:
    """`derogation-intake` as a function, on the embedded default settings."""
    monkeypatch.delenv("DEROGATION_INTAKE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return cli.main


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """A copy of the shipped FAMHP profile that a test may edit."""
    return Path(shutil.copytree(PROFILES / "famhp", tmp_path / "profiles" / "famhp"))


def with_variant(profile: Path) -> str:
    """Add the variant to the copy's English device_name labels, at the end; return the
    rule file as it was."""
    rules = profile / "extraction.toml"
    original = rules.read_text(encoding="utf-8")
    start = original.index("[fields.device_name.labels]")
    at = original.index("]", original.index("\nen = [", start))
    assert at < original.index("[fields.", start + 1), "the variant left device_name's labels"
    rules.write_text(f'{original[:at]}, "{VARIANT}"{original[at:]}', encoding="utf-8")
    return original


def labelled_subset(tmp_path: Path, names: Sequence[str], source: Path = FORMS) -> Path:
    """A folder with some labelled fixtures (each file and its expected JSON)."""
    folder = tmp_path / "labelled"
    folder.mkdir()
    for name in names:
        for path in source.glob(f"{name}.*"):
            shutil.copy(path, folder / path.name)
    return folder


# --- rules test ------------------------------------------------------------------------------


def block(out: str, title: str) -> list[str]:
    """The lines of one section of a `rules test` report (up to the next blank line)."""
    lines = out.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(title))
    end = next((n for n in range(start, len(lines)) if not lines[n].strip()), len(lines))
    return lines[start:end]


def test_rules_test_on_a_bare_pdf_shows_rules_sources_and_near_misses(
        profile: Path, intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    pdf = EXAMPLE / "part1_en_flat.pdf"

    status = intake_main(["rules", "test", "--profile", str(profile), str(pdf)])

    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith(f"== {pdf}\nprofile famhp (version ")
    found = block(out, "Fields found")
    assert re.search(r"^  device_model = 'PVJ-18'  "
                     r"\[rule famhp\.label\.device_model\.[a-z]{2}\.[\w-]+ "
                     r"\(label \"[^\"]+\"\); part1_en_flat\.pdf p\.1, printed label "
                     r"'[^']+'; confidence 0\.\d\d\]$", "\n".join(found), re.MULTILINE)
    assert any(line.startswith("  applicant_role = 'manufacturer'  [rule famhp.checkbox.")
               for line in found)
    missing = block(out, "Canonical fields not found")
    device = missing[next(n for n, line in enumerate(missing)
                          if line.startswith("  device_name: tried "))]
    assert device.endswith(": none matched")
    near = [line for line in missing if VARIANT in line]
    assert len(near) == 1
    assert re.fullmatch(
        r'    near miss: printed label "Brand of the device" on part1_en_flat\.pdf text line '
        r"\d+, value 'PulmoValve Junior' is close to \"Device\" "
        r"\(famhp\.label\.device_name\.en\.device, score 0\.50, 0\.75 needed and clear of "
        r"other fields\): add \"Brand of the device\" to "
        r"fields\.device_name\.labels\.en\?", near[0]), near[0]
    documents = block(out, "Documents")
    assert documents[1].startswith("  part1_en_flat.pdf: form_part1 by famhp.kind.form_part1 ")
    checklist = block(out, "Checklist (compassionate_use)")
    assert "  ✓ form_part1 (required): part1_en_flat.pdf" in checklist
    assert "  ✗ device_identified (required): no device_name" in checklist


def test_rules_test_on_a_message_shows_each_document_and_what_nearly_matched(
        intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    eml = MESSAGES / "cu_en_device_unidentified.eml"

    assert intake_main(["rules", "test", str(eml)]) == 0

    out = capsys.readouterr().out
    found = "\n".join(block(out, "Fields found"))
    assert re.search(r"^  hospital_name = 'ZOL Genk'  "
                     r"\[rule famhp\.\w+\.hospital_name\.[\w.-]+ .*; "
                     r"AortaFlex_TBE_Part2\.pdf p\.1", found, re.MULTILINE)
    missing = block(out, "Canonical fields not found")
    model = next(n for n, line in enumerate(missing) if line.startswith("  device_model: "))
    assert missing[model].endswith("none matched")
    assert "Device model" in missing[model + 1]
    assert missing[model + 1].startswith("    near miss: ")
    assert "famhp.label.device_model." in missing[model + 1]
    documents = block(out, "Documents")
    assert documents[1].startswith("  AortaFlex_TBE_Part1.docx: form_part1 by famhp.kind.")
    assert documents[2].startswith("  AortaFlex_TBE_Part2.pdf: form_part2 by famhp.kind.")
    assert "Missing: device_identified" in out


def test_rules_test_names_a_file_it_cannot_read(
        tmp_path: Path, intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    assert intake_main(["rules", "test", str(tmp_path / "nowhere.eml")]) == 1
    assert capsys.readouterr().err.startswith(f"{tmp_path / 'nowhere.eml'}: ")


def famhp_rules() -> ExtractionRules:
    """The shipped FAMHP extraction rules."""
    return load_extraction_rules(PROFILES / "famhp" / "extraction.toml")


def notes_for(key: str, *texts: str, taken: frozenset[str] = frozenset()) -> list[str]:
    """The near misses of one field over lines of a body."""
    rules = famhp_rules()
    rule = rules.field_rule(key)
    assert rule is not None
    lines = [TextLine(f"body line {n}", text) for n, text in enumerate(texts, 1)]
    return near_misses(rule, rules, lines, taken)


def test_a_value_after_a_label_no_rule_knows_is_a_near_miss() -> None:
    assert notes_for("contact_email", "Write to: Jane@UZLeuven.be") == [
        "value 'Jane@UZLeuven.be' on body line 1 after \"Write to\", which is no label, "
        "reads as email 'jane@uzleuven.be': a label of contact_email?"]
    # "Mail" is a synonym of the rules' "E-mail": read, so no near miss.
    assert notes_for("contact_email", "Mail: Jane@UZLeuven.be") == []
    # The same address already found for another field proves nothing.
    assert notes_for("contact_email", "Write to: jane@uzleuven.be",
                     taken=frozenset({"jane@uzleuven.be"})) == []


def test_an_srn_alone_on_its_line_is_a_near_miss() -> None:
    assert notes_for("manufacturer_srn", "Kind regards,", "BE-MF-000012345") == [
        "unlabelled value 'BE-MF-000012345' on body line 2 reads as srn"]


def test_a_label_whose_value_the_normaliser_refuses_says_so() -> None:
    (note,) = notes_for("risk_class", "Risk class: to be confirmed")
    assert note.startswith('label "Risk class" (famhp.label.risk_class.en.risk-class)')
    assert note.endswith(') on body line 1: value \'to be confirmed\' refused by normaliser '
                         '"risk_class"')


def test_prose_and_other_fields_labels_are_no_near_misses() -> None:
    assert notes_for("device_name", "We ask for the name of the device to be kept private.",
                     "Name of the treating physician: Dr. Peeters") == []


# --- rules eval ------------------------------------------------------------------------------


def field_row(out: str, key: str) -> list[str]:
    """The cells of a field's row in the eval table."""
    return next(line.split() for line in out.splitlines() if line.startswith(f"{key} "))


def test_a_label_variant_raises_recall_and_removing_it_is_a_regression(
        tmp_path: Path, profile: Path, intake_main: Main,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = labelled_subset(tmp_path, SUBSET, EXAMPLE)
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    eval_args = ["rules", "eval", str(folder), "--profile", str(profile)]

    # 1. The shipped rules miss device_name on the two forms that print the variant.
    assert intake_main([*eval_args, "--save-baseline", str(before)]) == 0
    out = capsys.readouterr().out
    assert field_row(out, "device_name") == ["device_name", "3", "1", "1", "0", "2", "0",
                                             "1.000", "0.333"]
    assert "  part1_en_flat: device_name missed (expected 'PulmoValve Junior')" in out
    assert f"baseline written: {before} (3 files)" in out

    # 2. The administrator adds the variant, in the rule file only.
    original = with_variant(profile)
    assert intake_main([*eval_args, "--baseline", str(before), "--save-baseline",
                        str(after)]) == 0
    out = capsys.readouterr().out
    assert field_row(out, "device_name")[-1] == "1.000"
    changes = out[out.index(f"Against the baseline {before}:"):].splitlines()
    assert changes[1:] == [
        "  device_name recall 0.333 -> 1.000",
        "  BETTER national_en_flat: device_name gained: 'FlowGuard ND' (was not found)",
        "  BETTER part1_en_flat: device_name gained: 'PulmoValve Junior' (was not found)",
        "No regressions.",
    ]
    old = precision_recall(baseline_from_json(json.loads(before.read_text())).values())
    new = precision_recall(baseline_from_json(json.loads(after.read_text())).values())
    assert {k: v for k, v in old.fields.items() if k != "device_name"} == \
        {k: v for k, v in new.fields.items() if k != "device_name"}
    assert old.attributes == new.attributes

    # 3. Removing it again is shown as a regression, and the command fails.
    (profile / "extraction.toml").write_text(original, encoding="utf-8")
    assert intake_main([*eval_args, "--baseline", str(after)]) == 1
    out = capsys.readouterr().out
    assert out[out.index(f"Against the baseline {after}:"):].splitlines()[1:] == [
        "  device_name recall 1.000 -> 0.333",
        "  WORSE national_en_flat: device_name lost: not found (was 'FlowGuard ND')",
        "  WORSE part1_en_flat: device_name lost: not found (was 'PulmoValve Junior')",
        "REGRESSED: 2 change(s) for the worse in 2 file(s)",
    ]


@pytest.mark.slow
def test_rules_eval_on_the_labelled_messages_prints_the_accuracy_table(
        intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    assert intake_main(["rules", "eval", str(MESSAGES)]) == 0

    out = capsys.readouterr().out
    labels = [json.loads(p.read_text(encoding="utf-8"))
              for p in sorted(MESSAGES.glob("*.expected.json"))]
    assert out.startswith(f"rules eval: {len(labels)} files in {MESSAGES}, profile famhp ")
    table = out[out.index("attribute "):].split("\n\n")[0].splitlines()
    assert table[0].split() == ["attribute", "right", "total", "accuracy"]
    rows = {cells[0]: cells[1:] for cells in (line.split() for line in table[1:])}
    assert list(rows)[:5] == ["kind", "request_type", "regulation", "language", "missing"]
    wrong = re.findall(r"^  \S+: (\w+) expected ", out, re.MULTILINE)
    for attribute, (right, total, accuracy) in rows.items():
        assert int(total) == sum(attribute in label for label in labels), attribute
        assert int(total) - int(right) == wrong.count(attribute), attribute
        assert accuracy == f"{int(right) / int(total):.3f}"


def test_a_follow_up_is_measured_with_the_case_it_follows(
        tmp_path: Path, intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    # The follow-up brings the mandate: only merged with its case is nothing missing.
    folder = labelled_subset(tmp_path, ["cu_en_mandated_no_mandate", "fu_en_mandate_subject_ref"],
                             MESSAGES)
    assert intake_main(["rules", "eval", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "fu_en_mandate_subject_ref: missing" not in captured.out
    assert re.search(r"^missing +2 +2 +1\.000$", captured.out, re.MULTILINE)
    (folder / "cu_en_mandated_no_mandate.eml").unlink()
    assert intake_main(["rules", "eval", str(folder)]) == 0
    assert ("note: fu_en_mandate_subject_ref follows cu_en_mandated_no_mandate, which is not "
            "here: evaluated on its own") in capsys.readouterr().err


def test_files_without_labels_and_folders_without_any_are_said_so(
        tmp_path: Path, intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    shutil.copy(FORMS / "part1_en_flat.pdf", folder)
    shutil.copy(FORMS / "part1_en_table.docx", folder)
    (folder / "part1_en_table.expected.json").write_text('{"fields": ', encoding="utf-8")
    assert intake_main(["rules", "eval", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "note: part1_en_flat.pdf has no part1_en_flat.expected.json: not evaluated" in err
    assert "note: part1_en_table.expected.json cannot be read: " in err
    assert f"rules eval: no labelled files in {folder}" in err


def test_eval_needs_a_folder_or_the_corrections(
        intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    assert intake_main(["rules", "eval"]) == 2
    assert "give a folder of labelled files, or --from-corrections" in capsys.readouterr().err


def test_a_file_that_is_no_baseline_is_refused_before_the_run(
        tmp_path: Path, intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    folder = labelled_subset(tmp_path, ["part1_en_table"])
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"files": {}}', encoding="utf-8")
    assert intake_main(["rules", "eval", str(folder), "--baseline", str(bogus)]) == 2
    captured = capsys.readouterr()
    assert f"rules eval: cannot use the baseline {bogus}: not a baseline file" in captured.err
    assert captured.out == ""


def test_progress_is_drawn_only_on_a_terminal(tmp_path: Path, intake_main: Main,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress(2, screen)
    progress.step(1, "part1_en_flat")
    progress.done()
    assert screen.getvalue() == "\r\x1b[K[1/2] part1_en_flat\r\x1b[K"
    folder = labelled_subset(tmp_path, ["part1_en_table"])
    assert intake_main(["rules", "eval", str(folder)]) == 0
    assert "\r" not in capsys.readouterr().err  # captured stderr is no terminal


# --- reviewers' corrections --------------------------------------------------------------------


def file_reviewed_cases(database: Database) -> None:
    """Two cases whose fields a reviewer confirmed, corrected or added."""
    with database.session() as s:
        first = create_case(s, "DRG-2026-000001", triage(), "subject", None)
        msg = add_message(s, first, None, parsed("a@hospital.example"), triage(), "request")
        record_values(s, first, msg, [field("device_name", "CardioFlow"),
                                   field("device_model", "CF-1")], {})
        set_reviewer_field(s, first, "device_name", "CardioFlow", "reviewer@famhp")
        set_reviewer_field(s, first, "device_model", "CF-2", "reviewer@famhp")
        set_reviewer_field(s, first, "patient_reference", "J.D.", "reviewer@famhp")
        second = create_case(s, "DRG-2026-000002", triage(), "subject", None)
        msg = add_message(s, second, None, parsed("b@hospital.example"), triage(), "request")
        record_values(s, second, msg, [field("device_name", "Valve X")], {})
        set_reviewer_field(s, second, "device_name", "ValveX Pro", "reviewer@famhp")


def test_eval_from_corrections_reports_per_field_accuracy(
        db_url: str, database: Database, monkeypatch: pytest.MonkeyPatch, intake_main: Main,
        capsys: pytest.CaptureFixture[str]) -> None:
    file_reviewed_cases(database)
    monkeypatch.setenv("DEROGATION_INTAKE_DATABASE__URL", db_url)

    assert intake_main(["rules", "eval", "--from-corrections"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(": 4 values on 2 case(s)")
    assert [line.split() for line in lines[1:5]] == [
        ["field", "reviewed", "right", "wrong", "missed", "accuracy"],
        ["device_model", "1", "0", "1", "0", "0.000"],
        ["device_name", "2", "1", "1", "0", "0.500"],
        ["patient_reference", "1", "0", "0", "1", "0.000"],
    ]
    assert lines[5:] == [
        "  DRG-2026-000001: device_model extracted 'CF-1' by famhp.label.device_model#0, "
        "corrected to 'CF-2'",
        "  DRG-2026-000001: patient_reference extracted None by -, corrected to 'J.D.'",
        "  DRG-2026-000002: device_name extracted 'Valve X' by famhp.label.device_name#0, "
        "corrected to 'ValveX Pro'",
    ]


def test_eval_from_corrections_without_a_database_creates_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, intake_main: Main,
        capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing-here.sqlite3"
    monkeypatch.setenv("DEROGATION_INTAKE_DATABASE__URL", f"sqlite:///{missing}")
    assert intake_main(["rules", "eval", "--from-corrections"]) == 1
    assert "cannot read the database" in capsys.readouterr().err
    assert not missing.exists()
