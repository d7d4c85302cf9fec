"""Case references are found in subjects and bodies, bracketed or bare, and normalised."""

from __future__ import annotations

import re

from tests.triage.builders import profile_rules
from triage.caseref import find_case_ref

RULES = profile_rules()


def test_a_bracketed_reference_in_the_subject_is_found() -> None:
    assert find_case_ref(["Re: [DRG-2026-000123] Compassionate Use", ""], RULES) == \
        "DRG-2026-000123"


def test_a_bare_reference_in_the_body_is_found_and_upper_cased() -> None:
    assert find_case_ref(["Documents", "Our file drg-2026-000045 (part 2)."], RULES) == \
        "DRG-2026-000045"


def test_the_subject_wins_over_the_body_and_the_first_one_is_returned() -> None:
    texts = ["Re: DRG-2026-000001 and DRG-2026-000002", "See DRG-2026-000003"]
    assert find_case_ref(texts, RULES) == "DRG-2026-000001"


def test_no_reference_gives_none() -> None:
    assert find_case_ref(["Compassionate Use – UZ Leuven – J.D.", "Dear colleagues"],
                         RULES) is None


def test_a_reference_inside_a_longer_code_is_not_one() -> None:
    assert find_case_ref(["XDRG-2026-000123", "DRG-2026-0001234"], RULES) is None


def test_the_pattern_comes_from_the_rule_file() -> None:
    assert find_case_ref(["Dossier ANSM-DM-2026-77"],
                         re.compile(r"ANSM-DM-\d{4}-\d+", re.IGNORECASE)) == "ANSM-DM-2026-77"
