"""Case references cited in a message, e.g. "[DRG-2025-000123]" in a reply's subject."""

from __future__ import annotations

import re
from collections.abc import Sequence

from config.triage_rules import TriageRules


def find_case_ref(texts: Sequence[str], rules: TriageRules | re.Pattern[str]) -> str | None:
    """Return the first case reference in the texts (subject first), upper-cased, or None."""
    pattern = rules.case_ref if isinstance(rules, TriageRules) else rules
    for text in texts:
        match = pattern.search(text)
        if match is not None:
            return normalise_case_ref(match.group(0))
    return None


def normalise_case_ref(ref: str) -> str:
    """Return a reference as the office writes it: trimmed, upper case, brackets removed."""
    return ref.strip().strip("[]()").strip().upper()
