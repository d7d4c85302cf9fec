"""`rules init` and `rules show`: the administrators' own rule files, and the versions kept.

The end-to-end test files messages through the real pipeline (Dovecot, `poll --once` in its
own process, the test's database), changes a rule file in between, and reads the old rules
back with `rules show`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from config.profile_folders import PROFILES_DIR
from config.profiles import load_profile_from
from intake.commands import cli
from intake.commands.rules import register_rules
from storage.db import Database
from storage.models import Case, RuleVersion
from storage.rule_versions import remember_rule_version
from tests.intake.e2e import Intake, labelled

Main = Callable[[Sequence[str] | None], int]
# Two requests of the labelled set, each filed as a new case.
FIRST, SECOND = "cu_en_urgent_complete", "cu_nl_complete_docx"
# A label added between the two: the second case is filed with other rules.
ADDED = '"Designation of the device", '


@pytest.fixture
def intake_main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Main:
    """`derogation-intake` as a function, on the embedded default settings."""
    for name in ("DEROGATION_INTAKE_CONFIG", "DEROGATION_INTAKE_GENERAL__PROFILES_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    commands = next(a.choices for a in cli.build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction))
    if "rules" not in commands:
        monkeypatch.setattr(cli, "_REGISTRARS", (*cli._REGISTRARS, register_rules))
    return cli.main


def shipped_files() -> dict[str, bytes]:
    """Every file of the shipped profiles, by its path from the folder of profiles."""
    return {str(p.relative_to(PROFILES_DIR)): p.read_bytes()
            for p in PROFILES_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def with_profiles_dir(config: Path, folder: Path) -> None:
    """Name a folder of profiles in a settings file's [general] table."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[general]\n", f'[general]\nprofiles_dir = "{folder}"\n', 1),
                      encoding="utf-8")


def add_label(folder: Path) -> None:
    """Add an English label to device_name in a copied FAMHP rule file."""
    path = folder / "famhp" / "extraction.toml"
    text = path.read_text(encoding="utf-8")
    at = text.index('en = ["Name of the device"', text.index("[fields.device_name.labels]"))
    at += len('en = [')
    path.write_text(text[:at] + ADDED + text[at:], encoding="utf-8")


# --- rules init ------------------------------------------------------------------------------


def test_init_copies_every_shipped_profile_and_says_what_to_set(
        intake_main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "etc" / "profiles"
    assert intake_main(["rules", "init", str(target)]) == 0
    assert files_of(target) == shipped_files()
    out = capsys.readouterr().out
    assert out.startswith(f"copied ansm, famhp ({len(shipped_files())} files) to {target}\n")
    assert f'  [general]\n  profiles_dir = "{target}"\n' in out
    assert "rules validate" in out


def test_init_never_overwrites_a_file(intake_main: Main, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "profiles"
    tuned = target / "famhp" / "extraction.toml"
    tuned.parent.mkdir(parents=True)
    tuned.write_text("# our own rules\n", encoding="utf-8")
    assert intake_main(["rules", "init", str(target)]) == 1
    assert capsys.readouterr().err == (
        f"rules init: nothing copied: 1 file(s) exist already in {target}: "
        "famhp/extraction.toml\n")
    # Nothing was copied, not even the files that were not there.
    assert files_of(target) == {"famhp/extraction.toml": b"# our own rules\n"}
    assert intake_main(["rules", "init", str(tmp_path / "fresh")]) == 0
    assert intake_main(["rules", "init", str(tmp_path / "fresh")]) == 1
    assert f"{len(shipped_files())} file(s) exist already" in capsys.readouterr().err


def test_init_of_one_profile_brings_the_profile_it_includes(
        intake_main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "profiles"
    assert intake_main(["rules", "init", str(target), "--profile", "famhp"]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["famhp"]
    other = tmp_path / "other"
    # ANSM's extraction rules include FAMHP's: a copy of ANSM alone would not load.
    assert intake_main(["rules", "init", str(other), "--profile", "ansm"]) == 0
    assert sorted(p.name for p in other.iterdir()) == ["ansm", "famhp"]
    assert load_profile_from(other / "ansm").version == load_profile_from(
        PROFILES_DIR / "ansm").version
    capsys.readouterr()
    assert intake_main(["rules", "init", str(tmp_path / "x"), "--profile", "afmps"]) == 1
    assert "unknown authority profile 'afmps' (known: ansm, famhp)" in capsys.readouterr().err


# --- general.profiles_dir ---------------------------------------------------------------------


def settings_file(tmp_path: Path, profiles: Path) -> Path:
    config = tmp_path / "intake.toml"
    config.write_text(f"""
[general]
data_dir = "{tmp_path / 'data'}"
profiles_dir = "{profiles}"

[mailboxes.famhp]
type = "maildir"
profile = "famhp"
path = "{tmp_path / 'maildir'}"
""", encoding="utf-8")
    return config


def test_config_check_and_validate_use_the_profiles_dir(
        intake_main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profiles = tmp_path / "profiles"
    config = settings_file(tmp_path, profiles)
    assert intake_main(["--config", str(config), "rules", "init", str(profiles)]) == 0
    capsys.readouterr()
    assert intake_main(["--config", str(config), "config", "check"]) == 0
    assert f'"profiles_dir": "{profiles}"' in capsys.readouterr().out
    # A mistake in the administrators' copy is found where it is.
    rules = profiles / "famhp" / "extraction.toml"
    rules.write_text(rules.read_text(encoding="utf-8").replace(
        'normaliser = "quantity"', 'normaliser = "count"'), encoding="utf-8")
    assert intake_main(["--config", str(config), "rules", "validate"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{rules}:") and "unknown normaliser 'count'" in out


def test_a_missing_profiles_dir_is_named(intake_main: Main, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = settings_file(tmp_path, tmp_path / "nowhere")
    assert intake_main(["--config", str(config), "config", "check"]) == 1
    assert f"the folder of profiles {tmp_path / 'nowhere'} does not exist" in (
        capsys.readouterr().err)


# --- rules show -------------------------------------------------------------------------------


def test_show_finds_a_version_by_a_unique_prefix(
        intake_main: Main, tmp_path: Path, db_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    profiles = tmp_path / "profiles"
    config = settings_file(tmp_path, profiles)
    config.write_text(config.read_text(encoding="utf-8")
                      + f'\n[database]\nurl = "{db_url}"\n', encoding="utf-8")
    assert intake_main(["rules", "init", str(profiles), "--profile", "famhp"]) == 0
    old = load_profile_from(profiles / "famhp")
    add_label(profiles)
    new = load_profile_from(profiles / "famhp")
    twins = [replace(old, version=f"abcd00000000000{n}") for n in (1, 2)]
    database = Database.open(db_url)
    try:
        with database.session() as s:
            for profile in (old, new, old, *twins):  # the second time is a no-op
                remember_rule_version(s, profile)
        with database.session() as s:
            assert len(s.scalars(select(RuleVersion)).all()) == 4
    finally:
        database.dispose()
    capsys.readouterr()
    main = ["--config", str(config), "rules", "show"]
    assert intake_main([*main, old.version[:6], "--file", "extraction.toml"]) == 0
    assert capsys.readouterr().out == (PROFILES_DIR / "famhp" / "extraction.toml").read_text(
        encoding="utf-8")
    assert intake_main([*main, "ABCD"]) == 1
    assert capsys.readouterr().err == (
        "rules show: abcd is the start of several versions: abcd000000000001 (famhp), "
        "abcd000000000002 (famhp)\n")
    assert intake_main([*main, "0123456789abcdef"]) == 1
    assert "no rules version 0123456789abcdef is kept" in capsys.readouterr().err
    assert intake_main([*main, "DRG-2026-000001"]) == 1
    assert "is not a rules version" in capsys.readouterr().err
    assert intake_main([*main, new.version, "--file", "nothing.toml"]) == 1
    assert "no file named nothing.toml" in capsys.readouterr().err


def test_show_prints_the_rules_an_old_case_was_filed_with(intake: Intake, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    result = intake.run("rules", "init", str(profiles))
    assert result.returncode == 0, result.stderr
    with_profiles_dir(intake.config, profiles)
    original = (profiles / "famhp" / "extraction.toml").read_text(encoding="utf-8")

    intake.user.append("INBOX", labelled(FIRST))
    assert intake.poll().returncode == 0
    add_label(profiles)  # the administrators tune their copy
    intake.user.append("INBOX", labelled(SECOND))
    assert intake.poll().returncode == 0

    database = intake.database()
    try:
        with database.session() as s:
            versions = [c.rules_version for c in s.scalars(select(Case).order_by(Case.ref))]
    finally:
        database.dispose()
    assert len(versions) == 2 and versions[0] != versions[1]
    # The pipeline read the copy: the second version is that of the changed files.
    assert versions[1] == load_profile_from(profiles / "famhp").version

    old = intake.run("rules", "show", versions[0][:8], "--file", "famhp/extraction.toml")
    assert old.returncode == 0, old.stderr
    assert old.stdout == original and ADDED not in old.stdout
    new = intake.run("rules", "show", versions[1])
    assert new.returncode == 0, new.stderr
    assert new.stdout.startswith(f"rules version {versions[1]} of profile famhp, first used ")
    assert "\n==> famhp/extraction.toml <==\n" in new.stdout and ADDED in new.stdout
    assert "\n==> famhp/triage.toml <==\n" in new.stdout
    unknown = intake.run("rules", "show", "ffffffff")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("rules show: no rules version ffffffff is kept")
