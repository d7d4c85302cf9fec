"""Rule expressions that backtrack catastrophically are refused with their path, line and key."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from config.regex_safety import backtracking_risk
from config.triage_rules_load import load_triage_rules
from config.validate import check_path

PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
# The attack: a 193 KB subject of one phrase repeated, which held `poll` for ten minutes.
HOSTILE_SUBJECT = "Compassionate use - " * 9650


@pytest.mark.parametrize("pattern", [
    r"(a+)+$", r"(.*)*x", r"(\w+\s?)+$", r"^(?:[a-z0-9]+-?)*@", r"(a|aa)*c", r"(\s|\s\s)*x",
    r"\bcompassionate\s+use\s*-\s*\S.*?-\s*\w{1,4}\s*$",
])
def test_patterns_prone_to_catastrophic_backtracking_are_named(pattern: str) -> None:
    assert backtracking_risk(pattern, re.IGNORECASE) is not None


@pytest.mark.parametrize("pattern", [
    r"DRG-[0-9]{4}-[0-9]{6}", r"^\s*(bulk|list|junk|auto[-_]reply)\s*$", r"compassionate[\s-]+use",
    r"\bspoed\w*", r"(?:ab|cd)+", r"^\s*(from|de|van)\s*:\s*.+@.+$", r"([^\W\d_]\.?[\s-]?){1,4}$",
    r"\A(?>.*?\bx\s*-\s*\S).*-\s*\w{1,4}\s*$",
])
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert backtracking_risk(pattern, re.IGNORECASE) is None


def test_the_shipped_subject_convention_matches_a_hostile_subject_in_milliseconds() -> None:
    rules = load_triage_rules(PROFILES / "famhp" / "triage.toml")
    (item,) = [i for i in rules.checklists["compassionate_use"] if i.id == "subject_convention"]
    assert item.subject_pattern is not None
    started = time.perf_counter()
    assert item.subject_pattern.search(HOSTILE_SUBJECT) is None
    # A safety net only: the old expression took minutes here, this one about 50 ms.
    assert time.perf_counter() - started < 5
    assert item.subject_pattern.search("RE: Compassionate Use – CHU Liège – M.-T.")


def test_rules_validate_names_a_risky_pattern_by_path_line_and_key(tmp_path: Path) -> None:
    profile = Path(shutil.copytree(PROFILES / "famhp", tmp_path / "famhp"))
    triage = profile / "triage.toml"
    text = triage.read_text(encoding="utf-8")
    triage.write_text(text.replace("regex = [\"compassionate[\\\\s-]+use\"]",
                                   "regex = [\"(\\\\w+\\\\s?)+use\"]", 1),
                      encoding="utf-8")
    (problem,) = check_path(profile).errors
    line = next(n for n, t in enumerate(triage.read_text().splitlines(), 1)
                if "(\\\\w+" in t)
    assert (problem.path, problem.line) == (str(triage), line)
    assert problem.key is not None and problem.key.endswith(".regex")
    assert "nests a repetition inside a repetition" in problem.describe()


def test_a_case_reference_is_made_of_ascii_digits() -> None:
    rules = load_triage_rules(PROFILES / "famhp" / "triage.toml")
    assert rules.case_ref.search("[DRG-2026-000123]")
    # Arabic-Indic digits are digits to \d, but no reference the office ever gave.
    assert rules.case_ref.search("DRG-٢٠٢٦-٠٠٠١٢٣") is None
