"""`rules validate`: every broken rule file or template named with its path, line, key, reason."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from config.validate import check_path, key_at_line, validate_profile
from intake.commands import cli

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "config" / "profiles"

Main = Callable[[Sequence[str]], int]


@pytest.fixture
def intake_main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Main:
    """`derogation-intake` as a function, on the embedded default settings."""
    monkeypatch.delenv("DEROGATION_INTAKE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return cli.main


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """A copy of the shipped FAMHP profile that a test may break."""
    return Path(shutil.copytree(PROFILES / "famhp", tmp_path / "famhp"))


def line_of(path: Path, text: str) -> int:
    """The 1-based line of a file on which a text stands (the test fails if it is absent)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    numbers = [n for n, line in enumerate(lines, 1) if text in line]
    assert numbers, f"{text!r} not in {path}"
    return numbers[0]


def insert_after(path: Path, anchor: str, text: str) -> None:
    """Insert lines after the first line that is exactly `anchor`."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next((n for n, line in enumerate(lines) if line.strip() == anchor), None)
    assert index is not None, f"{anchor!r} not in {path}"
    lines.insert(index + 1, text)
    path.write_text("".join(lines), encoding="utf-8")


def replace_once(path: Path, old: str, new: str, after: str = "") -> None:
    """Replace the first `old` that follows `after` in a file."""
    text = path.read_text(encoding="utf-8")
    start = text.index(after) if after else 0
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old):], encoding="utf-8")


def break_toml_syntax(profile: Path) -> tuple[str, str]:
    """An administrator forgets the closing quote of a label."""
    insert_after(profile / "extraction.toml", "[fields.device_name.labels]",
                 'en = ["Name of the device\n')
    return "fields.device_name.labels.en", "not valid TOML: "


def break_field_key(profile: Path) -> tuple[str, str]:
    """An administrator adds a field the domain does not know."""
    insert_after(profile / "extraction.toml", 'profile = "famhp"',
                 '\n[fields.device_colour]\nnormaliser = "text"\n')
    return "fields.device_colour", "unknown canonical field 'device_colour' (known: "


def break_regex(profile: Path) -> tuple[str, str]:
    """An administrator writes a form-field name pattern with an unclosed group."""
    replace_once(profile / "extraction.toml", "names = [", "names = ['(unclosed', ",
                 after="[fields.device_name]")
    return "fields.device_name.names", "bad regular expression '(unclosed': "


@pytest.mark.parametrize("breaking", [break_toml_syntax, break_field_key, break_regex],
                         ids=["toml-syntax", "unknown-field", "bad-regex"])
def test_a_broken_rule_file_is_named_with_path_line_key_and_reason(
        breaking: Callable[[Path], tuple[str, str]], profile: Path, intake_main: Main,
        capsys: pytest.CaptureFixture[str]) -> None:
    key, reason = breaking(profile)
    rules = profile / "extraction.toml"
    marker = {"fields.device_name.labels.en": 'en = ["Name of the device',
              "fields.device_colour": "[fields.device_colour]",
              "fields.device_name.names": "names = ['(unclosed'"}[key]

    status = intake_main(["rules", "validate", str(profile)])

    problems = capsys.readouterr().out.splitlines()[:-1]
    assert status == 1
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{rules}:{line_of(rules, marker)}: {key}: {reason}")


def test_the_summary_counts_problems_and_files(profile: Path, intake_main: Main,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    break_regex(profile)
    assert intake_main(["rules", "validate", str(profile)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    files = len([p for p in profile.rglob("*") if p.suffix in {".toml", ".j2"}])
    assert last == f"FAILED: 1 problem(s) in 1 file(s); {files} files checked"


def test_problems_in_several_files_are_all_reported(profile: Path, intake_main: Main,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    break_toml_syntax(profile)
    replace_once(profile / "triage.toml", "all_fields = [", 'all_fields = ["devcie_name", ')
    template = profile / "templates" / "fr" / "enquiry.txt.j2"
    template.write_text(template.read_text(encoding="utf-8") + "{% if case_ref %}\n",
                        encoding="utf-8")

    status = intake_main(["rules", "validate", str(profile)])

    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert lines[0].startswith(f"{profile / 'extraction.toml'}:")
    triage = profile / "triage.toml"
    assert lines[1].startswith(f"{triage}:{line_of(triage, 'devcie_name')}: ")
    assert lines[1].endswith("all_fields: unknown field 'devcie_name' (known: "
                             + lines[1].split("(known: ")[1])
    template_lines = len(template.read_text(encoding="utf-8").splitlines())
    assert lines[2].startswith(f"{template}:{template_lines}: template syntax error: ")
    assert lines[3].startswith("FAILED: 3 problem(s) in 3 file(s)")


def test_a_misspelt_template_variable_is_found_before_an_applicant_writes(
        profile: Path, intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    template = profile / "templates" / "en" / "enquiry.txt.j2"
    template.write_text(template.read_text(encoding="utf-8") + "Reference: {{ case_reff }}\n",
                        encoding="utf-8")
    line = len(template.read_text(encoding="utf-8").splitlines())

    status = intake_main(["rules", "validate", str(template)])

    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0] == f"{template}:{line}: template error: 'case_reff' is undefined"
    assert out[1] == "FAILED: 1 problem(s) in 1 file(s); 1 files checked"


def test_one_rule_file_can_be_checked_alone(profile: Path, intake_main: Main,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert intake_main(["rules", "validate", str(profile / "triage.toml")]) == 0
    assert capsys.readouterr().out == "OK: 1 files\n"
    break_field_key(profile)
    assert intake_main(["rules", "validate", str(profile / "extraction.toml")]) == 1
    assert "fields.device_colour: unknown canonical field" in capsys.readouterr().out


def test_the_shipped_profiles_are_valid(intake_main: Main,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    files = len([p for p in PROFILES.rglob("*") if p.suffix in {".toml", ".j2"}])
    assert intake_main(["rules", "validate"]) == 0
    assert capsys.readouterr().out == f"OK: {files} files\n"


def test_a_folder_of_profiles_is_checked_profile_by_profile(
        profile: Path, intake_main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(PROFILES / "ansm", profile.parent / "ansm")
    break_regex(profile)
    assert intake_main(["rules", "validate", str(profile.parent)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == [str(profile / "extraction.toml")]


def test_a_folder_that_is_no_profile_is_said_so(tmp_path: Path, intake_main: Main,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert intake_main(["rules", "validate", str(empty)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{empty}: not a profile folder (no extraction.toml, triage.toml or templates/)")
    assert intake_main(["rules", "validate", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'nowhere'}: no such file or folder")


def test_validate_profile_returns_the_errors_with_their_parts(profile: Path) -> None:
    assert validate_profile(profile) == []
    break_regex(profile)
    (error,) = validate_profile(profile)
    rules = profile / "extraction.toml"
    assert (error.path, error.line, error.key) == (
        str(rules), line_of(rules, "names = ['(unclosed'"), "fields.device_name.names")
    assert error.reason.startswith("bad regular expression '(unclosed'")


def test_a_template_outside_a_profile_is_refused(tmp_path: Path) -> None:
    stray = tmp_path / "enquiry.txt.j2"
    stray.write_text("Hello\n", encoding="utf-8")
    (error,) = check_path(stray).errors
    assert error.describe() == f"{stray}: a template must sit in <profile>/templates/<language>/"


def test_the_key_of_a_line_is_its_table_and_name(tmp_path: Path) -> None:
    rules = tmp_path / "x.toml"
    rules.write_text('profile = "x"\n\n[fields.device_name]\nnormaliser = "text"\n'
                     "[[kinds]]\nkind = 'ifu'\n", encoding="utf-8")
    assert key_at_line(rules, 1) == "profile"
    assert key_at_line(rules, 3) == "fields.device_name"
    assert key_at_line(rules, 4) == "fields.device_name.normaliser"
    assert key_at_line(rules, 6) == "kinds.kind"
